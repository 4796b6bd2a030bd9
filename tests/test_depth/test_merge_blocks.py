"""UPDP's merge: merged blocks equal the linear form at blend 1 for every family and block kind
(stride 2 and channel changes included), the linear form blends and restores exactly, and the depth
record rebuilds merged blocks before weights load."""
import copy

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from mmsls.depth import (LinearizedBlocks, apply_depth_structure, calibrate_linearized,
                         depth_structure, is_depth_pruned, linearized, merge_blocks, prunable_units)
from mmsls.families.merging import (BlendedNorm, MergedChainBlock, MergedConvBlock, MergedDWBlock,
                                    MergedLinearBlock)
from .conftest import build, swin_backbone_cfg

VIT = dict(type='VisionTransformer', img_size=32, patch_size=8, layer_scale_init_value=0.1,
           arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128))
CONVNEXT = dict(type='ConvNeXt', arch=dict(depths=[2, 2, 3, 2], channels=[8, 16, 24, 32]),
                out_indices=(2, 3), gap_before_final_norm=False)
MOBILENET = dict(type='MobileNetV2', widen_factor=0.25, out_indices=(4, 7))
RESNET18 = dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, out_indices=(0, 3))
RESNET50 = dict(type='ResNet', depth=50, base_channels=8, stem_channels=8, out_indices=(1, 2, 3))
RESNET50_V1D = dict(RESNET50, type='ResNetV1d')

# (backbone config, units, merged class, input size). The units cover every block kind: MobileNetV2
# layer1.0 (no expansion), layer4.0 and layer6.0 (stride 2 and a channel change), layer3.1 and
# layer6.2 (residual); ResNet layer2.0/layer4.0 (stride 2 + downsample), ResNet-50 layer1.0
# (downsample at stride 1), ResNetV1d (average-pooled downsample, odd input size).
CASES = {
    'vit': (VIT, ['layers.1', 'layers.3'], MergedLinearBlock, 32),
    'convnext': (CONVNEXT, ['stages.0.0', 'stages.2.1', 'stages.3.1'], MergedDWBlock, 64),
    'mobilenet_v2': (MOBILENET, ['layer1.0', 'layer2.0', 'layer3.1', 'layer4.0', 'layer6.2'],
                     MergedConvBlock, 64),
    'resnet18': (RESNET18, ['layer1.1', 'layer2.0', 'layer3.1', 'layer4.0'], MergedChainBlock, 64),
    'resnet50': (RESNET50, ['layer1.0', 'layer2.0', 'layer2.1', 'layer3.0'], MergedChainBlock, 64),
    'resnet50_v1d': (RESNET50_V1D, ['layer2.0', 'layer3.0', 'layer3.2'], MergedChainBlock, 63),
}


def randomise_statistics(model, seed):
    """Random non-zero running statistics for every BatchNorm (stand-ins included)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator))
            module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)


def flat_outputs(model, x):
    outputs = model(x)
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    return torch.cat([output.flatten() for output in outputs])


def relative_error(got, want):
    return ((got - want).norm() / want.norm()).item()


def backbone_case(case):
    cfg, units, merged_class, size = CASES[case]
    backbone = build('mmpretrain', cfg)
    randomise_statistics(backbone, seed=1)
    return backbone, units, merged_class, torch.randn(2, 3, size, size)


@pytest.mark.parametrize('case', list(CASES))
def test_merged_equals_linear_form_with_identity_statistics(case):
    backbone, units, merged_class, x = backbone_case(case)
    merged_model = copy.deepcopy(backbone)
    with torch.no_grad():
        original = flat_outputs(backbone, x)
        with linearized(backbone, units, 1.0):
            want = flat_outputs(backbone, x)
        merged = merge_blocks(merged_model, units)
        got = flat_outputs(merged_model, x)
    assert list(merged) == units
    assert all(type(module) is merged_class for module in merged.values())
    assert relative_error(got, want) < 1e-5
    # The linear form is another function than the block.
    assert relative_error(want, original) > 1e-4


@pytest.mark.parametrize('case', list(CASES))
def test_merged_equals_linear_form_with_calibrated_statistics(case):
    backbone, units, _, x = backbone_case(case)
    blocks = LinearizedBlocks(backbone, units, blend=1.0)
    randomise_statistics(backbone, seed=2)      # the stand-ins get statistics too
    with torch.no_grad():
        want = flat_outputs(backbone, x)
        merge_blocks(backbone, units)
        got = flat_outputs(backbone, x)
    blocks.forget(units)
    assert relative_error(got, want) < 1e-5


def test_positions_name_units_and_units_keep_their_names():
    backbone, units, _, x = backbone_case('mobilenet_v2')
    names = [unit.name for unit in prunable_units(backbone)]
    merged = merge_blocks(backbone, [names.index(units[1]), names.index(units[0])])
    assert list(merged) == units[:2]   # forward order
    assert [unit.name for unit in prunable_units(backbone)] == names
    assert prunable_units(backbone)[names.index('layer2.0')].module is merged['layer2.0']


@pytest.mark.parametrize('case', ['vit', 'convnext', 'resnet50'])
def test_linearized_blends_and_restores_exactly(case):
    backbone, units, _, x = backbone_case(case)
    keys = list(backbone.state_dict())
    with torch.no_grad():
        original = flat_outputs(backbone, x)
        with linearized(backbone, units, 0.0) as blocks:
            assert torch.equal(flat_outputs(backbone, x), original)
            blocks.blend = 1.0
            linear = flat_outputs(backbone, x)
            blocks.blend = 0.5
            half = flat_outputs(backbone, x)
            # The linearised model keeps the block's own keys and adds the stand-ins'.
            added = set(backbone.state_dict()) - set(keys)
            assert set(keys) <= set(backbone.state_dict())
            assert all('.bn.' in key for key in added)
            assert bool(added) == (case != 'resnet50')
        assert torch.equal(flat_outputs(backbone, x), original)
        assert list(backbone.state_dict()) == keys
    assert not torch.allclose(half, original) and not torch.allclose(half, linear)


def test_blend_formulas_on_one_vit_block():
    backbone = build('mmpretrain', VIT)
    block = backbone.layers[2]
    x = torch.randn(2, 17, 64)
    with torch.no_grad(), linearized(backbone, ['layers.2'], 0.25):
        norm = block.ln2
        assert isinstance(norm, BlendedNorm)
        norm_out, standin = norm.norm(x), norm.standin(x, 2)
        torch.testing.assert_close(norm(x), 0.75 * norm_out + 0.25 * standin)
        # The stand-in starts from the norm's affine with identity statistics.
        torch.testing.assert_close(standin, x / (1 + norm.bn.eps) ** 0.5 * norm.weight + norm.bias)
        act = block.ffn.layers[0][1]
        torch.testing.assert_close(act(x), 0.75 * act.act(x) + 0.25 * x)


def test_calibration_sets_standin_statistics_from_data():
    backbone = build('mmpretrain', CONVNEXT)
    x = torch.randn(4, 3, 32, 32)
    with linearized(backbone, ['stages.1.1'], 1.0) as blocks:
        before = {name: value.clone() for name, value in backbone.state_dict().items()
                  if 'running' in name and '.norm.bn.' not in name}
        assert calibrate_linearized(backbone, blocks, [x[:2], x[2:]]) == 2
        norm = blocks.norms()[0]
        # What the stand-in normalises: the depth-wise conv output of the block, channel-last; a
        # cumulative average over the two batches.
        captured = []
        handle = backbone.stages[1][1].depthwise_conv.register_forward_hook(
            lambda module, args, output: captured.append(
                output.permute(0, 2, 3, 1).reshape(-1, output.shape[1])))
        with torch.no_grad():
            backbone(x[:2])
            backbone(x[2:])
        handle.remove()
        mean = (captured[0].mean(0) + captured[1].mean(0)) / 2
        var = (captured[0].var(0) + captured[1].var(0)) / 2
        torch.testing.assert_close(norm.bn.running_mean, mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(norm.bn.running_var, var, rtol=1e-4, atol=1e-5)
        assert norm.bn.momentum == 0.1 and not norm.calibrating
        # The model's own statistics did not move, and its modes are back.
        for name, value in backbone.state_dict().items():
            if name in before:
                assert torch.equal(value, before[name]), name
        assert not any(module.training for module in backbone.modules())


def test_depth_record_rebuilds_merged_blocks_before_weights_load():
    backbone, units, _, x = backbone_case('mobilenet_v2')
    fresh = copy.deepcopy(backbone)
    merge_blocks(backbone, units[:3])
    record = depth_structure(backbone)
    assert set(record['merged']) == set(units[:3]) and is_depth_pruned(backbone)
    assert record['kept'] == record['units']
    state = backbone.state_dict()
    apply_depth_structure(fresh, record, state)
    fresh.load_state_dict(state)       # strict: the keys are the merged blocks'
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), backbone(x))
    assert depth_structure(fresh) == record


def test_depth_record_with_removed_and_merged_units():
    backbone, _, _, x = backbone_case('convnext')
    fresh = copy.deepcopy(backbone)
    from mmsls.depth import prune_depth
    names = [unit.name for unit in prunable_units(backbone)]
    prune_depth(backbone, [position for position, name in enumerate(names) if name != 'stages.2.2'])
    merge_blocks(backbone, ['stages.2.1'])
    record = depth_structure(backbone)
    state = backbone.state_dict()
    apply_depth_structure(fresh, record, state)
    fresh.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), backbone(x))


def test_weights_of_an_unmerged_block_are_refused_for_a_merged_record():
    backbone, units, _, _ = backbone_case('resnet18')
    unmerged_state = copy.deepcopy(backbone.state_dict())
    fresh = copy.deepcopy(backbone)
    merge_blocks(backbone, units[:1])
    with pytest.raises(ValueError, match=f'unit {units[0]} is kept by the depth record, but the '
                                         'checkpoint has no'):
        apply_depth_structure(fresh, depth_structure(backbone), unmerged_state)


@pytest.mark.parametrize('units, message', [
    (['layers.9'], r"'layers.9' is not a prunable unit of this model; the model's units are"),
    (['layers.1', 1], r'units names a block twice'),
    ([7], r'units lists position 7, which is not a unit'),
    ('layers.1', r'units must be a non-empty list of unit names'),
    ([], r'units must be a non-empty list'),
])
def test_bad_units_are_refused(units, message):
    backbone = build('mmpretrain', VIT)
    with pytest.raises(ValueError, match=message):
        merge_blocks(backbone, units)


def test_families_without_a_merged_form_are_refused():
    backbone = build('mmdet', swin_backbone_cfg())
    with pytest.raises(ValueError, match=r'unit stages.1.blocks.1 has no merged form: it belongs to '
                                         r'the mmdet SwinTransformer family, which declares no '
                                         r'linear form'):
        merge_blocks(backbone, ['stages.1.blocks.1'])


def test_merged_and_linearised_blocks_are_refused_twice():
    backbone, units, _, _ = backbone_case('convnext')
    merge_blocks(backbone, units[:1])
    with pytest.raises(ValueError, match=f'unit {units[0]} has no merged form: it is merged already'):
        merge_blocks(backbone, units[:1])
    with linearized(backbone, units[1:2]):
        with pytest.raises(ValueError, match=f'unit {units[1]} is linearised already'):
            LinearizedBlocks(backbone, units[1:2])


def test_blocks_with_adapters_are_refused():
    from mmsls.adapters import attach_adapters
    backbone = build('mmpretrain', VIT)
    attach_adapters(backbone, dict(type='RepAdapter', hidden_dims=4, scale=1.0))
    with pytest.raises(ValueError, match=r'unit layers.0 has no merged form: it has adapters '
                                         r'attached \(adapter_attn, adapter_mlp\); merge them'):
        merge_blocks(backbone, ['layers.0'])


def test_merged_block_shape_rules_for_removal():
    backbone, _, _, _ = backbone_case('mobilenet_v2')
    merge_blocks(backbone, ['layer2.0', 'layer2.1'])
    units = {unit.name: unit for unit in prunable_units(backbone)}
    assert units['layer2.0'].required
    assert 'is a merged block with stride 2' in units['layer2.0'].module.removal_blocker()
    assert units['layer2.1'].module.removal_blocker() is None
