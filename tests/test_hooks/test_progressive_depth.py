"""ProgressiveDepthHook: the schedule, fading then removal in real Runner runs, resume, tools/train.py."""
import copy
import json
import math
import socket
import uuid

import pytest
import torch
from mmengine.hooks import Hook

from mmsls.depth import prunable_units
from mmsls.hooks.progressive_depth import PROGRESSIVE_RECORD_KEY, ProgressiveDepthHook, fade_blend
from mmsls.runner import build_runner, load_run_config
from ..conftest import TINY_CONFIGS, run_tool

VIT_BLOCKS = ['layers.1', 'layers.3']


def make_runner(work_dir, hook_cfg, scope='mmpretrain', **overrides):
    """A Runner of a tiny config with the hook, as tools/train.py builds it (cwd: tiny_data_dir)."""
    options = {'custom_hooks': [dict(type='mmsls.ProgressiveDepthHook', **hook_cfg)],
               'experiment_name': f'updp_{uuid.uuid4().hex[:8]}', **overrides}
    cfg = load_run_config(str(TINY_CONFIGS[scope]), options, str(work_dir))
    return build_runner(cfg)


def the_hook(runner) -> ProgressiveDepthHook:
    return next(hook for hook in runner.hooks if isinstance(hook, ProgressiveDepthHook))


class BackboneProbe(Hook):
    """Records the backbone's eval-mode output on fixed images after every iteration."""

    def __init__(self, images):
        self.images, self.outputs = images, []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        model = runner.model
        model.eval()
        with torch.no_grad():
            self.outputs.append(model.backbone(self.images)[-1].clone())
        model.train()


class BlendProbe(Hook):
    def __init__(self):
        self.blends = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.blends.append(the_hook(runner).blend)


@pytest.fixture
def in_tiny_data(tiny_data_dir, monkeypatch):
    monkeypatch.chdir(tiny_data_dir)
    return tiny_data_dir


def test_fade_blend_schedules():
    assert [fade_blend(t, 2, 4) for t in range(8)] == [0, 0, 0.25, 0.5, 0.75, 1, 1, 1]
    cosine = [fade_blend(t, 0, 4, 'cosine') for t in range(5)]
    assert cosine[-2:] == [1.0, 1.0] and cosine[0] == pytest.approx((1 - math.cos(math.pi / 4)) / 2)
    assert cosine[1] == pytest.approx(0.5)
    assert fade_blend(0, 0, 1) == 1.0


@pytest.mark.parametrize('kwargs, message', [
    (dict(), 'give exactly one of blocks, depth, keep_from, search and select'),
    (dict(blocks=['layers.1'], depth=2), 'give exactly one of'),
    (dict(blocks='layers.1'), 'blocks must be a non-empty list'),
    (dict(depth=0), 'depth must be an int >= 1'),
    (dict(search=dict(num_remove=1, flops_ratio=0.2)), 'exactly one of num_remove'),
    (dict(search=dict(count=1)), 'search must be a dict with keys among'),
    (dict(depth=2, span=0), 'span must be an int >= 1'),
    (dict(depth=2, by='step'), "by must be 'iter' or 'epoch'"),
    (dict(depth=2, schedule='exp'), 'schedule must be one of'),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProgressiveDepthHook(**kwargs)


def test_vit_fades_then_removes_with_unchanged_output(in_tiny_data, tmp_path):
    runner = make_runner(tmp_path, dict(blocks=VIT_BLOCKS, begin=1, span=3),
                         train_cfg=dict(type='IterBasedTrainLoop', max_iters=6, val_interval=6))
    torch.manual_seed(0)
    before = BackboneProbe(torch.randn(2, 3, 32, 32))
    after, blends = BackboneProbe(before.images), BlendProbe()
    runner.register_hook(before, priority='ABOVE_NORMAL')
    runner.register_hook(after, priority='BELOW_NORMAL')
    runner.register_hook(blends)
    runner.train()

    assert blends.blends == pytest.approx([0, 1 / 3, 2 / 3, 1, 1, 1])
    assert [unit.name for unit in prunable_units(runner.model)] == ['layers.0', 'layers.2']
    assert runner.model.backbone.num_layers == 2
    # Iteration 4 ran at blend 1 and removed the blocks: the output did not move at that moment.
    torch.testing.assert_close(after.outputs[3], before.outputs[3], rtol=0, atol=0)
    assert not torch.allclose(before.outputs[2], before.outputs[3])
    checkpoint = torch.load(tmp_path / 'iter_6.pth', weights_only=True)
    assert checkpoint['meta'][PROGRESSIVE_RECORD_KEY] == dict(blocks=VIT_BLOCKS, blend=1.0,
                                                              removed=True)
    assert not any(key.startswith('backbone.layers.1.') for key in checkpoint['state_dict'])
    optimized = {id(p) for group in runner.optim_wrapper.optimizer.param_groups
                 for p in group['params']}
    assert optimized == {id(p) for p in runner.model.parameters()}


def test_resume_in_the_middle_of_the_fade_continues_the_schedule(in_tiny_data, tmp_path):
    hook_cfg = dict(blocks=VIT_BLOCKS, begin=1, span=4, schedule='cosine')
    loop = dict(type='IterBasedTrainLoop', max_iters=6, val_interval=6)
    make_runner(tmp_path, hook_cfg, train_cfg=loop,
                default_hooks=dict(checkpoint=dict(interval=3))).train()
    saved = torch.load(tmp_path / 'iter_3.pth', weights_only=True)['meta'][PROGRESSIVE_RECORD_KEY]
    assert saved == dict(blocks=VIT_BLOCKS, blend=pytest.approx(fade_blend(2, 1, 4, 'cosine')),
                         removed=False)

    resumed = make_runner(tmp_path / 'resumed', hook_cfg, train_cfg=loop, resume=True,
                          load_from=str(tmp_path / 'iter_3.pth'))
    blends = BlendProbe()
    resumed.register_hook(blends)
    resumed.train()
    assert blends.blends == pytest.approx([fade_blend(t, 1, 4, 'cosine') for t in range(3, 6)])
    assert the_hook(resumed).faded_blocks == VIT_BLOCKS
    assert [unit.name for unit in prunable_units(resumed.model)] == ['layers.0', 'layers.2']


def test_testing_a_mid_fade_checkpoint_applies_its_blend(in_tiny_data, tmp_path):
    hook_cfg = dict(blocks=['layers.2'], begin=0, span=4)
    make_runner(tmp_path, hook_cfg,  # blend 0.5 at the checkpoint of iteration 2
                train_cfg=dict(type='IterBasedTrainLoop', max_iters=4, val_interval=4)).train()
    tester = make_runner(tmp_path / 'test', hook_cfg, load_from=str(tmp_path / 'iter_2.pth'))
    metrics = tester.test()
    assert 'accuracy/top1' in metrics
    hook = the_hook(tester)
    assert hook.blend == 0.5 and hook.faded_blocks == ['layers.2']


def test_blocks_from_the_sls_handover(in_tiny_data, tmp_path):
    runner = make_runner(tmp_path, dict(keep_from='mmsls/sls_keep', begin=0, span=2))
    runner.message_hub.update_info('mmsls/sls_keep', [0, 1])
    runner.train()
    assert the_hook(runner).faded_blocks == ['layers.2', 'layers.3']
    assert [unit.name for unit in prunable_units(runner.model)] == ['layers.0', 'layers.1']


def test_sls_dry_run_chooses_and_the_hook_fades(in_tiny_data, tmp_path):
    runner = make_runner(tmp_path, dict(keep_from='mmsls/sls_keep', begin=0, span=2))
    runner.register_hook(dict(type='mmsls.SLSHook', dry_run=True, alpha=1.0, num_samples=24))
    runner.train()
    report = json.loads((tmp_path / 'sls_scores.json').read_text())
    removed = [name for name in report['units'] if name not in report['kept_units']]
    assert the_hook(runner).faded_blocks == removed
    assert [unit.name for unit in prunable_units(runner.model)] == report['kept_units']


def test_sls_selection_chooses_and_the_hook_fades_without_a_second_hook(in_tiny_data, tmp_path):
    runner = make_runner(tmp_path, dict(select=dict(type='SLSSelection', alpha=1.0, num_samples=24),
                                        begin=1, span=1))
    runner.train()
    report = json.loads((tmp_path / 'sls_scores.json').read_text())
    removed = [name for name in report['units'] if name not in report['kept_units']]
    assert removed, 'alpha=1 keeps the depth of the best-separated layer only'
    assert the_hook(runner).faded_blocks == removed
    assert [unit.name for unit in prunable_units(runner.model)] == report['kept_units']
    saved = torch.load(tmp_path / 'iter_2.pth', weights_only=True)['meta']
    assert saved['mmsls_depth']['kept'] == report['kept_units']


def test_missing_handover_is_a_clear_error(in_tiny_data, tmp_path):
    runner = make_runner(tmp_path, dict(keep_from='mmsls/sls_keep', span=2))
    with pytest.raises(ValueError, match="no units to keep under message hub info 'mmsls/sls_keep'"):
        runner.train()


@pytest.mark.parametrize('hook_cfg, overrides, message', [
    (dict(depth=2, span=3), {}, 'the fade ends at iteration 3 .* training stops at 2'),
    (dict(depth=2, by='epoch'), {}, "by='epoch' needs an epoch-based train loop"),
    (dict(blocks=['layers.0', 'layers.1', 'layers.2', 'layers.3'], span=2), {},
     'pruning every unit'),
    (dict(depth=2, span=2), dict(custom_hooks=[dict(type='EMAHook')]), 'cannot run with EMAHook'),
])
def test_bad_runs_are_refused_before_training(in_tiny_data, tmp_path, hook_cfg, overrides, message):
    runner = make_runner(tmp_path, hook_cfg)
    for hook in overrides.get('custom_hooks', []):
        runner.register_hook(copy.deepcopy(hook))
    with pytest.raises(ValueError, match=message):
        runner.train()


# Tiny classifiers of the CNN families, and the blocks UPDP's search may pick in each.
CNN_CLASSIFIERS = {
    'resnet': (dict(type='ResNet', depth=18, base_channels=8, stem_channels=8),
               dict(type='GlobalAveragePooling'), 64),
    'convnext': (dict(type='ConvNeXt', arch=dict(depths=[2, 2, 2, 2], channels=[8, 16, 24, 32])),
                 None, 32),
    'mobilenet_v2': (dict(type='MobileNetV2', widen_factor=0.25),
                     dict(type='GlobalAveragePooling'), 1280),
}


@pytest.mark.parametrize('family', sorted(CNN_CLASSIFIERS))
def test_cnn_bypass_search_then_fade(in_tiny_data, tmp_path, family):
    """A CNN from a config: UPDP's search picks the block, the fade removes it, the output holds."""
    backbone, neck, channels = CNN_CLASSIFIERS[family]
    model = dict(_delete_=True, type='ImageClassifier', backbone=backbone, neck=neck,
                 head=dict(type='LinearClsHead', num_classes=3, in_channels=channels))
    runner = make_runner(tmp_path, dict(search=dict(num_remove=1, num_samples=8), span=2),
                         model=model)
    before = BackboneProbe(torch.randn(2, 3, 32, 32))
    after = BackboneProbe(before.images)
    runner.register_hook(before, priority='ABOVE_NORMAL')
    runner.register_hook(after, priority='BELOW_NORMAL')
    units = prunable_units(runner.model)
    runner.train()
    removed = the_hook(runner).faded_blocks
    assert len(removed) == 1 and removed[0] in [unit.name for unit in units if not unit.required]
    assert removed[0] not in [unit.name for unit in prunable_units(runner.model)]
    torch.testing.assert_close(after.outputs[1], before.outputs[1], rtol=0, atol=0)


def test_two_ranks_remove_the_same_block(tiny_data_dir, tmp_path, monkeypatch):
    """Rank 0 searches, both ranks fade and remove the same block; DDP trains on after it."""
    config = tmp_path / 'vit_updp.py'
    config.write_text(f"_base_ = ['{TINY_CONFIGS['mmpretrain']}']\n"
                      "train_cfg = dict(max_iters=3, val_interval=3)\n"
                      "default_hooks = dict(checkpoint=dict(interval=3))\n"
                      "custom_hooks = [dict(type='mmsls.ProgressiveDepthHook', span=2, "
                      "search=dict(num_remove=1, num_samples=8))]\n")
    with socket.socket() as probe:  # a free port: other jobs on the machine may use 29500
        probe.bind(('127.0.0.1', 0))
        monkeypatch.setenv('PORT', str(probe.getsockname()[1]))
    work_dir = tmp_path / 'work'
    proc = run_tool('dist_train.sh', config, 2, '--work-dir', work_dir, cwd=tiny_data_dir)
    assert 'bypass search chose' in proc.stdout + proc.stderr
    state = torch.load(work_dir / 'iter_3.pth', weights_only=True)
    record = state['meta'][PROGRESSIVE_RECORD_KEY]
    assert record['removed'] and len(record['blocks']) == 1
    layers = {key.split('.')[2] for key in state['state_dict'] if key.startswith('backbone.layers.')}
    assert len(layers) == 3 and record['blocks'][0].split('.')[1] not in layers


def test_swin_detector_searches_fades_then_removes(in_tiny_data, tmp_path):
    # Depths (1, 1, 2, 1): stages.2.blocks.1 is the only block that is not the first of its stage.
    runner = make_runner(tmp_path, dict(search=dict(num_remove=1, num_samples=6), span=2),
                         scope='mmdet')
    runner.train()
    assert the_hook(runner).faded_blocks == ['stages.2.blocks.1']
    names = [unit.name for unit in prunable_units(runner.model)]
    assert 'stages.2.blocks.1' not in names and len(names) == 4
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'removal changed the backbone outputs on this batch by at most 0 ' in log


def test_setr_removal_that_remaps_outputs_is_reported(in_tiny_data, tmp_path):
    # SETR reads layers (1, 2, 4, 5) of 6. Without layer 1, the remap reads (2, 3, 4, 5): the first
    # output was layer 0's features through the bypassed layer 1, it is now layer 2's.
    runner = make_runner(tmp_path, dict(blocks=['layers.1'], span=2), scope='mmseg')
    runner.train()
    assert runner.model.backbone.out_indices == (1, 2, 3, 4)
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'WARNING - ProgressiveDepthHook: removal changed the backbone outputs' in log
    assert 'reads its outputs from other layers than the faded one' in log


def test_train_tool_fades_removes_and_test_tool_reads_the_pruned_checkpoint(tiny_data_dir, tmp_path):
    config = tmp_path / 'vit_updp.py'
    config.write_text(f"_base_ = ['{TINY_CONFIGS['mmpretrain']}']\n"
                      "train_cfg = dict(max_iters=4, val_interval=4)\n"
                      "default_hooks = dict(checkpoint=dict(interval=4))\n"
                      "custom_hooks = [dict(type='mmsls.ProgressiveDepthHook', depth=3, begin=1, "
                      "span=2)]\n")
    work_dir = tmp_path / 'work'
    proc = run_tool('train.py', config, '--work-dir', work_dir, cwd=tiny_data_dir)
    log = proc.stdout + proc.stderr
    assert "fading out ['layers.3'] (linear) over iterations 2..3" in log
    assert 'removed [\'layers.3\'] after iteration 3; 3 units remain' in log
    assert 'removal changed the backbone outputs on this batch by at most 0 ' in log
    assert 'fade_blend: 1.0000' in log
    # The original config (no hook) tests the pruned checkpoint: its structure is recorded.
    run_tool('test.py', TINY_CONFIGS['mmpretrain'], work_dir / 'iter_4.pth', '--work-dir',
             tmp_path / 'test', cwd=tiny_data_dir)
