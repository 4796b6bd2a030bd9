"""A pruned checkpoint works with the original config: tools/test.py, load_from and resume."""
import os
import subprocess
import sys

import pytest
import torch

from ..conftest import REPO, TINY_CONFIGS, run_tool

# The kept depth per scope: the tiny SETR has 4 outputs (needs >= 4 of its 6 layers); the tiny Swin
# (depths 1, 1, 2, 1) keeps the first 3 blocks plus the first block of the last stage.
DEPTHS = {'mmpretrain': 2, 'mmseg': 4, 'mmdet': 3}
KEPT = {
    'mmpretrain': ['layers.0', 'layers.1'],
    'mmseg': ['layers.0', 'layers.1', 'layers.2', 'layers.3'],
    'mmdet': ['stages.0.blocks.0', 'stages.1.blocks.0', 'stages.2.blocks.0', 'stages.3.blocks.0'],
}
MISMATCH_WARNING = 'The model and loaded state dict do not match exactly'


@pytest.fixture(scope='module')
def pruned_checkpoint(tiny_data_dir, tmp_path_factory):
    """``pruned_checkpoint(scope)``: iter_2.pth of a tiny run pruned by PruneDepthHook (run once)."""
    checkpoints = {}

    def train(scope):
        if scope not in checkpoints:
            base = tmp_path_factory.mktemp(f'pruned_{scope}')
            config = base / 'config.py'
            config.write_text(f"_base_ = ['{TINY_CONFIGS[scope]}']\n"
                              f"custom_hooks = [dict(type='mmsls.PruneDepthHook', "
                              f"depth={DEPTHS[scope]})]\n")
            run_tool('train.py', config, '--work-dir', base / 'work', cwd=tiny_data_dir)
            checkpoints[scope] = base / 'work/iter_2.pth'
        return checkpoints[scope]

    return train


@pytest.mark.parametrize('scope', sorted(TINY_CONFIGS))
def test_pruned_checkpoint_records_structure_and_tests_with_original_config(
        scope, pruned_checkpoint, tiny_data_dir, tmp_path):
    checkpoint = pruned_checkpoint(scope)
    saved = torch.load(checkpoint, weights_only=True)
    record = saved['meta']['mmsls_depth']
    assert record['kept'] == KEPT[scope]
    removed = [name for name in record['units'] if name not in record['kept']]
    assert removed and not any(key.startswith(f'backbone.{name}.') for key in saved['state_dict']
                               for name in removed)

    proc = run_tool('test.py', TINY_CONFIGS[scope], checkpoint, '--work-dir', tmp_path / 'test',
                    cwd=tiny_data_dir)
    log = proc.stdout + proc.stderr
    assert f'Load checkpoint from {checkpoint}' in log
    assert MISMATCH_WARNING not in log, 'every weight loaded into its own unit'


def test_resume_and_load_from_a_pruned_checkpoint_with_original_config(pruned_checkpoint,
                                                                       tiny_data_dir, tmp_path):
    config = TINY_CONFIGS['mmpretrain']
    checkpoint = pruned_checkpoint('mmpretrain')

    proc = run_tool('train.py', config, '--work-dir', tmp_path / 'resumed', '--resume', checkpoint,
                    '--cfg-options', 'train_cfg.max_iters=4', cwd=tiny_data_dir)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in log and MISMATCH_WARNING not in log
    resumed = torch.load(tmp_path / 'resumed/iter_4.pth', weights_only=True)
    assert resumed['meta']['mmsls_depth']['kept'] == KEPT['mmpretrain']
    # The optimizer state of the pruned model came back: AdamW's step counts continued from 2, and
    # there is state for exactly the pruned model's parameters.
    optimizer = resumed['optimizer']
    assert optimizer['state'] and all(float(entry['step']) == 4 for entry in optimizer['state'].values())
    num_params = sum(len(group['params']) for group in optimizer['param_groups'])
    assert num_params == len(optimizer['state']) == len(resumed['state_dict'])

    proc = run_tool('train.py', config, '--work-dir', tmp_path / 'finetune', '--cfg-options',
                    f'load_from={checkpoint}', 'train_cfg.max_iters=1',
                    'default_hooks.checkpoint.interval=1', cwd=tiny_data_dir)
    assert MISMATCH_WARNING not in proc.stdout + proc.stderr
    finetuned = torch.load(tmp_path / 'finetune/iter_1.pth', weights_only=True)
    assert finetuned['meta']['mmsls_depth']['kept'] == KEPT['mmpretrain']
    assert set(finetuned['state_dict']) == set(torch.load(checkpoint, weights_only=True)['state_dict'])


def test_checkpoint_whose_weights_contradict_its_record_is_refused(pruned_checkpoint, tiny_data_dir,
                                                                   tmp_path):
    saved = torch.load(pruned_checkpoint('mmpretrain'), weights_only=True)
    saved['state_dict']['backbone.layers.3.ln1.weight'] = torch.ones(64)
    broken = tmp_path / 'broken.pth'
    torch.save(saved, broken)

    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, str(REPO / 'tools/test.py'), str(TINY_CONFIGS['mmpretrain']),
                           str(broken), '--work-dir', str(tmp_path / 'test')], cwd=tiny_data_dir,
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert ('unit layers.3 is removed by the depth record, but the checkpoint holds '
            'backbone.layers.3.ln1.weight') in proc.stderr


def test_models_without_a_prunable_backbone_save_and_load_as_before(tmp_path):
    """tools/train.py adds the hook to every run, whatever the model."""
    from mmengine.runner import Runner
    from torch import nn

    from mmsls.hooks import DepthStructureHook
    runner = Runner(model=nn.Sequential(nn.Linear(2, 2)), work_dir=str(tmp_path))
    checkpoint = dict(meta=dict(epoch=1), state_dict=runner.model.state_dict())
    hook = DepthStructureHook()
    hook.before_save_checkpoint(runner, checkpoint)
    assert checkpoint['meta'] == dict(epoch=1)
    hook.after_load_checkpoint(runner, checkpoint)
