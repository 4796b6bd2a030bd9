"""bench_updp_merge.py runs its three variants on the CPU in its quick mode and prints its table (the
figures of a 2-iteration schedule mean nothing; only that every row is there and the pruned models
are cheaper are checked)."""
import re
import runpy
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / 'tools/benchmarks/bench_updp_merge.py'


def test_quick_mode_prints_every_variant(monkeypatch, capsys, tmp_path):
    threads = torch.get_num_threads()
    monkeypatch.setattr(sys, 'argv', [str(SCRIPT), '--quick', '--models', 'mobilenet_v2',
                                      '--work-dir', str(tmp_path)])
    try:
        runpy.run_path(str(SCRIPT), run_name='__main__')
    finally:
        torch.set_num_threads(threads)
    rows = [[cell.strip() for cell in line.strip('|').split('|')]
            for line in capsys.readouterr().out.splitlines() if re.match(r'\|\s*mobilenet_v2', line)]
    assert [row[1] for row in rows] == ['none', 'remove', 'merge']
    flops_ratio = {row[1]: float(row[5]) for row in rows}
    assert flops_ratio['none'] == 1.0
    assert flops_ratio['remove'] < flops_ratio['merge'] < 1.0
