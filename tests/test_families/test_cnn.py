"""CNN depth families: pruned outputs equal a forward through the kept blocks; shape-changing blocks
are refused with an error naming them."""
import copy
import re

import pytest
import torch

from mmsls.depth import (apply_depth_structure, depth_keep, depth_structure, prunable_units,
                         prune_depth)
from mmsls.families import SequentialPrunedLayers
from ..test_depth.conftest import build

RESNET50 = dict(type='ResNet', depth=50, base_channels=8, stem_channels=8, out_indices=(1, 2, 3))
RESNET18 = dict(type='ResNet', depth=18, base_channels=8, stem_channels=8, out_indices=(0, 3))
CONVNEXT = dict(type='ConvNeXt', arch=dict(depths=[2, 2, 3, 2], channels=[8, 16, 24, 32]),
                out_indices=(2, 3), gap_before_final_norm=False)
MOBILENET = dict(type='MobileNetV2', widen_factor=0.25, out_indices=(4, 7))


def images():
    return torch.randn(2, 3, 32, 32)


def resnet_reference(backbone, kept_names, x):
    x = backbone.maxpool(backbone.relu(backbone.norm1(backbone.conv1(x))))
    outs = []
    for index, stage in enumerate(backbone.res_layers):
        for name, block in backbone.get_submodule(stage).named_children():
            if f'{stage}.{name}' in kept_names:
                x = block(x)
        if index in backbone.out_indices:
            outs.append(x)
    return outs


def convnext_reference(backbone, kept_names, x):
    outs = []
    for index, stage in enumerate(backbone.stages):
        x = backbone.downsample_layers[index](x)
        for name, block in stage.named_children():
            if f'stages.{index}.{name}' in kept_names:
                x = block(x)
        if index in backbone.out_indices:
            outs.append(getattr(backbone, f'norm{index}')(x))
    return outs


def mobilenet_reference(backbone, kept_names, x):
    x = backbone.conv1(x)
    outs = []
    for index, layer_name in enumerate(backbone.layers):
        layer = getattr(backbone, layer_name)
        if layer_name == 'conv2':
            x = layer(x)
        else:
            for name, block in layer.named_children():
                if f'{layer_name}.{name}' in kept_names:
                    x = block(x)
        if index in backbone.out_indices:
            outs.append(x)
    return outs


CASES = {
    'resnet50': (RESNET50, resnet_reference, ['layer1.1', 'layer2.2', 'layer2.3', 'layer3.5']),
    'resnet18': (RESNET18, resnet_reference, ['layer1.1', 'layer3.1']),
    'convnext': (CONVNEXT, convnext_reference, ['stages.0.1', 'stages.2.1', 'stages.2.2']),
    'mobilenet_v2': (MOBILENET, mobilenet_reference, ['layer3.2', 'layer4.1', 'layer6.2']),
}


@pytest.mark.parametrize('case', list(CASES))
def test_pruned_outputs_equal_reference(case):
    cfg, reference_forward, removed = CASES[case]
    backbone = build('mmpretrain', cfg)
    reference = copy.deepcopy(backbone)
    units = prunable_units(backbone)
    keep = [position for position, unit in enumerate(units) if unit.name not in removed]
    kept_names = {units[position].name for position in keep}
    prune_depth(backbone, keep)

    assert [unit.name for unit in prunable_units(backbone)] == [units[p].name for p in keep]
    x = images()
    with torch.no_grad():
        outs = backbone(x)
        expected = reference_forward(reference, kept_names, x)
        assert len(outs) == len(expected)
        for out, want in zip(outs, expected):
            torch.testing.assert_close(out, want)
        # The removed blocks did work: the unpruned model computes something else.
        assert not torch.allclose(reference(x)[-1], outs[-1])


@pytest.mark.parametrize('case, required', [
    ('resnet50', ['layer1.0', 'layer2.0', 'layer3.0', 'layer4.0']),
    ('convnext', ['stages.0.0', 'stages.1.0', 'stages.2.0', 'stages.3.0']),
    ('mobilenet_v2', [f'layer{i}.0' for i in range(1, 8)]),
])
def test_first_block_of_every_stage_is_required(case, required):
    backbone = build('mmpretrain', CASES[case][0])
    assert [unit.name for unit in prunable_units(backbone) if unit.required] == required
    keep = depth_keep(backbone, 2)
    names = [prunable_units(backbone)[position].name for position in keep]
    assert names[:2] == [unit.name for unit in prunable_units(backbone)[:2]]
    assert set(required) <= set(names)


@pytest.mark.parametrize('case, name, reason', [
    ('resnet50', 'layer2.0', 'has a downsample branch (stride 2, 32 -> 64 channels)'),
    ('resnet50', 'layer1.0', 'has a downsample branch (stride 1, 8 -> 32 channels)'),
    ('mobilenet_v2', 'layer5.0', 'has no residual connection (stride 1, 16 -> 24 channels)'),
])
def test_shape_changing_block_is_refused_even_with_allow_empty_stages(case, name, reason):
    backbone = build('mmpretrain', CASES[case][0])
    names = [unit.name for unit in prunable_units(backbone)]
    keep = [position for position, unit in enumerate(names) if unit != name]
    for allow_empty_stages in (False, True):
        with pytest.raises(ValueError, match=rf'keep drops {name} .*{re.escape(reason)}'):
            prune_depth(backbone, keep, allow_empty_stages=allow_empty_stages)
    assert [unit.name for unit in prunable_units(backbone)] == names, 'nothing may change'


@pytest.mark.parametrize('case, stage, first', [
    ('convnext', 'stages.3', 'stages.3.0'),
    ('resnet18', 'layer1', 'layer1.0'),
])
def test_shape_keeping_stage_can_be_emptied_with_allow_empty_stages(case, stage, first):
    cfg, reference_forward, _ = CASES[case]
    backbone = build('mmpretrain', cfg)
    reference = copy.deepcopy(backbone)
    names = [unit.name for unit in prunable_units(backbone)]
    keep = [position for position, name in enumerate(names) if not name.startswith(stage + '.')]
    with pytest.raises(ValueError, match=f'keep drops {first}, a required unit'):
        prune_depth(backbone, keep)
    prune_depth(backbone, keep, allow_empty_stages=True)
    assert len(backbone.get_submodule(stage)) == 0
    x = images()
    with torch.no_grad():
        expected = reference_forward(reference, {names[position] for position in keep}, x)
        for out, want in zip(backbone(x), expected):
            torch.testing.assert_close(out, want)


def test_pruned_stages_are_sequential_and_keep_original_names():
    backbone = build('mmpretrain', RESNET50)
    names = [unit.name for unit in prunable_units(backbone)]
    prune_depth(backbone, [p for p, name in enumerate(names) if name != 'layer3.2'])
    for stage in backbone.res_layers:
        assert isinstance(getattr(backbone, stage), SequentialPrunedLayers)
    assert [name for name, _ in backbone.layer3.named_children()] == ['0', '1', '3', '4', '5']
    assert 'layer3.4.conv1.weight' in backbone.state_dict()


def test_structure_record_round_trip_loads_pruned_weights():
    model = build('mmpretrain', dict(type='ImageClassifier', backbone=CONVNEXT,
                                     neck=dict(type='GlobalAveragePooling'),
                                     head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    names = [unit.name for unit in prunable_units(model)]
    prune_depth(model, [p for p, name in enumerate(names) if name not in ('stages.0.1', 'stages.2.2')])
    record, state = depth_structure(model), model.state_dict()
    fresh = build('mmpretrain', dict(type='ImageClassifier', backbone=CONVNEXT,
                                     neck=dict(type='GlobalAveragePooling'),
                                     head=dict(type='LinearClsHead', num_classes=3, in_channels=32)),
                  seed=1)
    apply_depth_structure(fresh, record, state)
    fresh.load_state_dict(state, strict=True)
    fresh.eval()
    x = images()
    with torch.no_grad():
        torch.testing.assert_close(fresh(x, mode='tensor'), model(x, mode='tensor'))


def test_frozen_stages_still_freeze_a_pruned_resnet():
    backbone = build('mmpretrain', dict(RESNET50, frozen_stages=2))
    names = [unit.name for unit in prunable_units(backbone)]
    prune_depth(backbone, [p for p, name in enumerate(names) if name not in ('layer2.1', 'layer3.1')])
    backbone.train()
    assert not backbone.layer2.training and backbone.layer3.training
    assert not any(param.requires_grad for param in backbone.layer2.parameters())
    loss = sum(out.sum() for out in backbone(images()))
    loss.backward()
    assert backbone.layer3[1].conv1.weight.grad is not None
