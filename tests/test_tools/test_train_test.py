"""tools/train.py and tools/test.py on a tiny model of each scope, from a config file, as a user runs them."""
import json

import pytest
import torch

from ..conftest import TINY_CONFIGS, run_tool

# The metric each scope's evaluator reports.
METRIC_KEYS = {'mmpretrain': 'accuracy/top1', 'mmdet': 'coco/bbox_mAP', 'mmseg': 'mIoU'}


@pytest.mark.parametrize('scope', sorted(TINY_CONFIGS))
def test_train_then_test_from_checkpoint(scope, tiny_data_dir, tmp_path):
    work_dir = tmp_path / 'work'
    run_tool('train.py', TINY_CONFIGS[scope], '--work-dir', work_dir, cwd=tiny_data_dir)
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('iter_2.pth')

    out = tmp_path / 'metrics.json'
    run_tool('test.py', TINY_CONFIGS[scope], checkpoint, '--work-dir', tmp_path / 'test',
             '--out-metrics', out, cwd=tiny_data_dir)
    metrics = json.loads(out.read_text())
    value = metrics[METRIC_KEYS[scope]]
    assert isinstance(value, float) and value >= 0


def test_resume_continues_from_saved_iteration(tiny_data_dir, tmp_path):
    work_dir = tmp_path / 'work'
    config = TINY_CONFIGS['mmpretrain']
    run_tool('train.py', config, '--work-dir', work_dir, cwd=tiny_data_dir)
    first = torch.load(work_dir / 'iter_2.pth', weights_only=True)

    proc = run_tool('train.py', config, '--work-dir', work_dir, '--resume',
                    '--cfg-options', 'train_cfg.max_iters=4', cwd=tiny_data_dir)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    resumed = torch.load(work_dir / 'iter_4.pth', weights_only=True)
    assert resumed['meta']['iter'] == 4
    # The optimizer state came along: AdamW's step count continued from 2.
    steps = [s['step'] for s in resumed['optimizer']['state'].values()]
    assert steps and all(float(s) == 4 for s in steps)
    assert first['meta']['iter'] == 2


def test_load_from_initialises_weights(tiny_data_dir, tmp_path):
    config = TINY_CONFIGS['mmpretrain']
    run_tool('train.py', config, '--work-dir', tmp_path / 'a', cwd=tiny_data_dir)
    source = tmp_path / 'a/iter_2.pth'
    proc = run_tool('train.py', config, '--work-dir', tmp_path / 'b', '--cfg-options',
                    f'load_from={source}', 'train_cfg.max_iters=1',
                    'default_hooks.checkpoint.interval=1', cwd=tiny_data_dir)
    assert f'Load checkpoint from {source}' in proc.stdout + proc.stderr
    loaded = torch.load(tmp_path / 'b/iter_1.pth', weights_only=True)
    assert loaded['meta']['iter'] == 1
