"""bench_progressive_depth.py runs its four variants on the CPU in its quick mode, training its own
tiny PRETRAIN / PETL checkpoints first, and prints its table (the accuracies of a 4-iteration
schedule mean nothing; only that every variant is there with the kept layers is checked). It runs
in a subprocess, as its stages do (tools/train.py, tools/analyze_layers.py)."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools/benchmarks/bench_progressive_depth.py'


def test_quick_mode_prints_every_variant(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
    proc = subprocess.run([sys.executable, str(SCRIPT), '--quick', '--device', 'cpu',
                           '--work-dir', str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert 'kept depth 6 of 8' in out
    table = out.split('| per seed\n')[1].splitlines()
    rows = [[cell.strip() for cell in line.split('|')] for line in table if '|' in line]
    assert [(row[0], row[1]) for row in rows] == [
        ('none', '8'), ('one-shot', '6'), ('iterative', '6'), ('progressive', '6')]
    assert all(0.0 <= float(row[2]) <= 100.0 for row in rows)
    assert (tmp_path / 'pretrain').is_dir() and (tmp_path / 'petl').is_dir()
