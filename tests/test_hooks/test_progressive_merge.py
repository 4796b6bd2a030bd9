"""ProgressiveDepthHook(mode='merge'): UPDP's supernet -> search -> fade -> merge in real Runner runs,
the merged checkpoint tested with the original config, resume, and the refusals."""
import pytest
import torch

from mmsls.depth import depth_structure, prunable_units
from mmsls.families.merging import MergedLinearBlock
from mmsls.hooks.progressive_depth import PROGRESSIVE_RECORD_KEY, ProgressiveDepthHook
from ..conftest import TINY_CONFIGS, run_tool
from .test_progressive_depth import BackboneProbe, BlendProbe, make_runner, the_hook

LOOP = dict(type='IterBasedTrainLoop', max_iters=6, val_interval=6)


@pytest.fixture
def in_tiny_data(tiny_data_dir, monkeypatch):
    monkeypatch.chdir(tiny_data_dir)
    return tiny_data_dir


@pytest.mark.parametrize('kwargs, message', [
    (dict(blocks=['layers.1'], mode='fold'), "mode must be one of \\('remove', 'merge'\\)"),
    (dict(blocks=['layers.1'], supernet=dict(prob=0.5), begin=2),
     "supernet trains the blocks' linear forms, which only mode='merge' uses"),
    (dict(blocks=['layers.1'], mode='merge', supernet=dict(prob=0.5)),
     'the supernet phase runs over the iterations before the fade: set begin > 0'),
    (dict(blocks=['layers.1'], mode='merge', supernet=dict(prob=1.5), begin=2),
     'supernet prob is the chance .* in \\(0, 1\\]'),
    (dict(blocks=['layers.1'], mode='merge', supernet=dict(p=0.5), begin=2),
     'supernet must be a dict with "prob"'),
    (dict(blocks=['layers.1'], mode='merge', calibrate_samples=0),
     'calibrate_samples must be an int >= 1'),
])
def test_bad_merge_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProgressiveDepthHook(**kwargs)


def test_a_fade_longer_than_training_is_refused(in_tiny_data, tmp_path):
    runner = make_runner(tmp_path, dict(blocks=['layers.1'], mode='merge', begin=2, span=5),
                         train_cfg=LOOP)
    with pytest.raises(ValueError, match='the fade ends at iteration 7 .* training stops at 6'):
        runner.train()


def test_a_block_without_merged_form_is_refused_when_the_fade_starts(in_tiny_data, tmp_path):
    runner = make_runner(tmp_path, dict(blocks=['layers.1'], mode='merge', span=2), train_cfg=LOOP)
    from mmsls.adapters import attach_adapters
    attach_adapters(runner.model.backbone, dict(type='RepAdapter', hidden_dims=4, scale=1.0))
    with pytest.raises(ValueError, match='unit layers.1 has no merged form: it has adapters attached'):
        runner.train()


def test_vit_linearises_then_merges_with_unchanged_output_and_tests_with_its_config(
        in_tiny_data, tmp_path):
    runner = make_runner(tmp_path, dict(blocks=['layers.1', 'layers.3'], mode='merge', begin=1,
                                        span=3, calibrate_samples=8), train_cfg=LOOP)
    torch.manual_seed(0)
    before = BackboneProbe(torch.randn(2, 3, 32, 32))
    after, blends = BackboneProbe(before.images), BlendProbe()
    runner.register_hook(before, priority='ABOVE_NORMAL')
    runner.register_hook(after, priority='BELOW_NORMAL')
    runner.register_hook(blends)
    runner.train()

    assert blends.blends == pytest.approx([0, 1 / 3, 2 / 3, 1, 1, 1])
    units = {unit.name: unit.module for unit in prunable_units(runner.model)}
    assert list(units) == ['layers.0', 'layers.1', 'layers.2', 'layers.3']
    assert isinstance(units['layers.1'], MergedLinearBlock)
    # Iteration 4 ran at blend 1 and merged: the eval-mode output did not move at that moment.
    torch.testing.assert_close(after.outputs[3], before.outputs[3], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(before.outputs[2], before.outputs[3])
    checkpoint = torch.load(tmp_path / 'iter_6.pth', weights_only=True)
    assert checkpoint['meta'][PROGRESSIVE_RECORD_KEY] == dict(
        blocks=['layers.1', 'layers.3'], blend=1.0, removed=True, mode='merge')
    assert set(checkpoint['meta']['mmsls_depth']['merged']) == {'layers.1', 'layers.3'}
    assert 'backbone.layers.1.linear.weight' in checkpoint['state_dict']
    optimized = {id(p) for group in runner.optim_wrapper.optimizer.param_groups
                 for p in group['params']}
    assert optimized == {id(p) for p in runner.model.parameters()}

    # tools/test.py and mmsls.apis.init_model with the original config re-apply the merged
    # structure before the weights load (strictly).
    run_tool('test.py', TINY_CONFIGS['mmpretrain'], tmp_path / 'iter_6.pth',
             '--work-dir', tmp_path / 'test', cwd=in_tiny_data)
    from mmsls.apis import init_model
    loaded = init_model(str(TINY_CONFIGS['mmpretrain']), str(tmp_path / 'iter_6.pth'))
    assert isinstance(loaded.backbone.layers[3], MergedLinearBlock)
    runner.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.backbone(before.images), runner.model.backbone(before.images))


def test_supernet_search_fade_merge_and_resume_mid_fade(in_tiny_data, tmp_path):
    hook_cfg = dict(search=dict(num_remove=1, num_samples=8), mode='merge',
                    supernet=dict(prob=0.5, seed=3), begin=2, span=3, calibrate_samples=8)
    make_runner(tmp_path, hook_cfg, train_cfg=LOOP,
                default_hooks=dict(checkpoint=dict(interval=1))).train()
    supernet = torch.load(tmp_path / 'iter_1.pth', weights_only=True)
    assert supernet['meta'][PROGRESSIVE_RECORD_KEY] == dict(
        mode='merge', supernet=['layers.0', 'layers.1', 'layers.2', 'layers.3'])
    assert 'backbone.layers.2.ln2.bn.weight' in supernet['state_dict']
    fading = torch.load(tmp_path / 'iter_3.pth', weights_only=True)['meta'][PROGRESSIVE_RECORD_KEY]
    assert fading['removed'] is False and fading['blend'] == pytest.approx(1 / 3)
    chosen = fading['blocks']
    assert len(chosen) == 1
    final = torch.load(tmp_path / 'iter_6.pth', weights_only=True)
    assert list(final['meta']['mmsls_depth']['merged']) == chosen

    # Resuming mid-fade re-linearises the chosen block and merges it at the same iteration.
    resumed = make_runner(tmp_path / 'resumed', hook_cfg, train_cfg=LOOP, resume=True,
                          load_from=str(tmp_path / 'iter_3.pth'))
    resumed.train()
    assert the_hook(resumed).faded_blocks == chosen
    assert depth_structure(resumed.model)['merged'].keys() == {chosen[0]}
    # Resuming in the supernet phase works as well (the stand-ins load strictly).
    make_runner(tmp_path / 'resumed_supernet', hook_cfg, train_cfg=LOOP, resume=True,
                load_from=str(tmp_path / 'iter_1.pth')).train()
