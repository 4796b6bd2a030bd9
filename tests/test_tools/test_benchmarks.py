"""Every benchmark script runs on the CPU in its quick mode and prints its table.

The scripts run in this process (``runpy``, as ``python tools/benchmarks/<script>.py`` would), so
the heavy imports are paid once; their figures on tiny models mean nothing and are not checked,
only that every variant and row is there with finite values. bench_progressive_depth.py (an
accuracy study whose stages are processes of their own) is run by test_bench_progressive_depth.py.
"""
import math
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / 'tools' / 'benchmarks'


@pytest.fixture
def run_script(monkeypatch, capsys):
    """Run a benchmark script with arguments; return what it printed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def run(name, *args):
        monkeypatch.setattr(sys, 'argv', [str(BENCHMARKS / name), *args])
        runpy.run_path(str(BENCHMARKS / name), run_name='__main__')
        return capsys.readouterr().out

    yield run
    torch.set_num_threads(threads)


def table_rows(output, first_cell):
    """Markdown rows of ``output`` whose first cell starts with ``first_cell``."""
    return [[cell.strip() for cell in line.strip('|').split('|')] for line in output.splitlines()
            if re.match(rf'\|\s*{re.escape(first_cell)}', line)]


def numbers(text):
    return [float(value) for value in re.findall(r'\d+\.\d+', text)]


def test_select_depth(run_script):
    out = run_script('bench_select_depth.py', '--quick', '--device', 'cpu', '--profile',
                     '--variants', 'sklearn', 'torch', 'auto')
    rows = table_rows(out, 'rise_fall_10cls')
    variants = [row[2] for row in rows[:3]]
    assert variants == ['sklearn', 'torch', 'auto']
    assert '(sklearn)' in out.split('auto:')[1].splitlines()[0]  # 'auto' on the CPU: reference
    profile = [row for row in rows if len(row) == 10]
    assert [row[2] for row in profile] == ['torch']
    assert profile[0][-1] in ('features', 'affinities', 'pca_init', 'optimise', 'silhouette')


def test_depth(run_script):
    out = run_script('bench_depth.py', '--quick', '--device', 'cpu', '--rounds', '2')
    assert 'wall time:' in out and 'cpu time:' in out
    rows = [line.split() for line in out.splitlines() if re.match(r'\s+[24] ', line)]
    assert [row[0] for row in rows] == ['4', '2', '4', '2']
    assert float(rows[0][4].rstrip('x')) == 1.0 and float(rows[1][5].rstrip('x')) > 1.0


def test_adapters(run_script):
    out = run_script('bench_adapters.py', '--quick', '--device', 'cpu', '--rounds', '2',
                     '--threads', '1', '--dtype', 'bf16', '--batch-size', '2')
    assert 'bf16' in out and 'merged 4 RepAdapters' in out
    for variant in ('plain', 'RepAdapter unmerged', 'RepAdapter merged', 'Convpass'):
        line = next(line for line in out.splitlines() if line.startswith(variant + ' '))
        assert all(math.isfinite(value) and value > 0 for value in numbers(line))
    assert float(re.search(r'output: (\S+) relative', out).group(1)) < 1e-5


def test_dense(run_script):
    # fp16 runs under autocast: mmdet's Swin builds float32 masks inside its forward.
    out = run_script('bench_dense.py', '--quick', '--device', 'cpu', '--rounds', '1',
                     '--threads', '1', '--batch-size', '1', '--dtype', 'fp16')
    assert 'Table 6' in out and 'Table 7' in out and 'fp16 autocast' in out
    rows = table_rows(out, '')
    removed = [row[0] for row in rows if row[0].isdigit()]
    assert removed == ['0', '1', '2', '0', '1', '2']
    for row in rows:
        if row[0].isdigit() and row[0] != '0':
            assert float(row[7].rstrip('x')) > 1.0  # fewer units, fewer FLOPs


def test_sls_analysis(run_script):
    out = run_script('bench_sls_analysis.py', '--quick', '--device', 'cpu', '--repeats', '1',
                     '--backend', 'torch', '--threads', '1')
    stages = [row[0] for row in table_rows(out, '')[2:]]
    assert stages == ['capture', 'criterion: features', 'criterion: affinities',
                      'criterion: pca_init', 'criterion: optimise', 'criterion: silhouette',
                      'criterion (total)', 'total']


def test_sls_capture(run_script):
    out = run_script('bench_sls_capture.py', '--quick', '--device', 'cpu')
    rows = table_rows(out, '')
    names = [row[0].split(':')[0] for row in rows[2:]]
    assert names == ['classification', 'segmentation', 'detection']
    assert all(float(row[2]) == 8 for row in rows[2:])
