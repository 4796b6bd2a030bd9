"""Wherever mmsls is imported, a pruned checkpoint loaded into a model of the unpruned structure
fails with an error that names the fix, in every loading path (mmsls/depth/load_guard.py)."""
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import load_state_dict

from mmsls.apis import init_model
from mmsls.depth import DEPTH_RECORD_KEY, prune_depth
from ..conftest import REPO, TINY_CONFIGS

GUARD = (r'weights for 2 of the 4 blocks of the mmpretrain VisionTransformer at "backbone\." but '
         r'none for layers\.2, layers\.3: it is a checkpoint of a depth-pruned model.*'
         r'custom_hooks=\[dict\(type="mmsls\.DepthStructureHook"\)\].*tools/deploy\.py')


@contextmanager
def working_dir(path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def runner_cfg(work_dir, **options) -> Config:
    """The tiny ViT config (custom_imports of mmsls, no mmsls hook) for a Runner."""
    cfg = Config.fromfile(TINY_CONFIGS['mmpretrain'])
    cfg.work_dir = str(work_dir)
    cfg.merge_from_dict(options)
    return cfg


@pytest.fixture(scope='module')
def pruned_checkpoint(tmp_path_factory, tiny_data_dir):
    """A Runner checkpoint of the tiny ViT trained with PruneDepthHook(depth=2): layers 0, 1 kept,
    its depth record in meta, as any train.py with custom_imports of mmsls saves it."""
    work_dir = tmp_path_factory.mktemp('pruned_run')
    cfg = runner_cfg(work_dir, custom_hooks=[dict(type='mmsls.PruneDepthHook', depth=2)])
    with working_dir(tiny_data_dir):
        Runner.from_cfg(cfg).train()
    checkpoint = work_dir / 'iter_2.pth'
    assert torch.load(checkpoint, weights_only=False)['meta'][DEPTH_RECORD_KEY]['kept'] == \
        ['layers.0', 'layers.1']
    return checkpoint


def test_both_loaders_refuse_weights_for_some_blocks():
    model = init_model(TINY_CONFIGS['mmpretrain'])
    pruned = init_model(TINY_CONFIGS['mmpretrain'])
    prune_depth(pruned, [0, 1])
    with pytest.raises(ValueError, match=GUARD):
        model.load_state_dict(pruned.state_dict(), strict=False)
    with pytest.raises(ValueError, match=GUARD):
        load_state_dict(model, pruned.state_dict())  # MMEngine's, used by load_from and init_cfg
    # What stays allowed: the full state dict into the pruned model (the kept blocks load by their
    # original names), and a state dict of no block (a head).
    pruned.load_state_dict(model.state_dict(), strict=False)
    model.load_state_dict({key: value for key, value in pruned.state_dict().items()
                           if key.startswith('head.')}, strict=False)


def test_swin_in_a_detector_is_guarded_too():
    model = init_model(TINY_CONFIGS['mmdet'])
    pruned = init_model(TINY_CONFIGS['mmdet'])
    prune_depth(pruned, [0, 1, 2, 4])  # stages.2.blocks.1 goes
    with pytest.raises(ValueError, match=r'but none for stages\.2\.blocks\.1: it is a checkpoint '
                       r'of a depth-pruned model'):
        model.load_state_dict(pruned.state_dict(), strict=False)


def test_load_from_in_a_runner_without_mmsls_hooks(pruned_checkpoint, tmp_path):
    runner = Runner.from_cfg(runner_cfg(tmp_path, load_from=str(pruned_checkpoint)))
    with pytest.raises(ValueError, match=GUARD):
        runner.load_or_resume()


def test_resume_in_a_runner_without_mmsls_hooks(pruned_checkpoint, tmp_path, tiny_data_dir):
    runner = Runner.from_cfg(runner_cfg(tmp_path, load_from=str(pruned_checkpoint), resume=True))
    with working_dir(tiny_data_dir), pytest.raises(ValueError, match=GUARD):
        runner.load_or_resume()


def test_a_runner_with_the_structure_hook_re_applies_the_record(pruned_checkpoint, tmp_path):
    cfg = runner_cfg(tmp_path, load_from=str(pruned_checkpoint),
                     custom_hooks=[dict(type='mmsls.DepthStructureHook')])
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    assert [name for name, _ in runner.model.backbone.layers.named_children()] == ['0', '1']


def test_init_model_and_tools_test_refuse_a_stripped_record(pruned_checkpoint, tmp_path,
                                                            tiny_data_dir):
    checkpoint = torch.load(pruned_checkpoint, weights_only=False)
    del checkpoint['meta'][DEPTH_RECORD_KEY]
    stripped = tmp_path / 'stripped.pth'
    torch.save(checkpoint, stripped)
    with pytest.raises(ValueError, match='looks like a pruned checkpoint without its structure'):
        init_model(TINY_CONFIGS['mmpretrain'], str(stripped))
    # --non-strict: MMEngine's own loading, which only warns about missing keys, is guarded too.
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/test.py'), str(TINY_CONFIGS['mmpretrain']),
         str(stripped), '--non-strict', '--work-dir', str(tmp_path / 'work')],
        cwd=tiny_data_dir, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1'))
    assert proc.returncode != 0
    assert 'but none for layers.2, layers.3: it is a checkpoint of a depth-pruned' in proc.stderr
