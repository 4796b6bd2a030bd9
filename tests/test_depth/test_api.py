"""The family-independent depth API: finding the backbone, listing, pruning, depth_keep, bad input."""
import copy

import pytest
import torch
from torch import nn

from mmsls.depth import depth_keep, find_backbone, prunable_units, prune_depth
from .conftest import build, swin_backbone_cfg, vit_classifier_cfg


def adapted_classifier(adapter_type):
    cfg = vit_classifier_cfg()
    cfg['backbone'] = dict(type='mmsls.AdaptedBackbone', backbone=cfg['backbone'],
                           adapter=dict(type=adapter_type))
    return build('mmpretrain', cfg)


def test_finds_backbone_through_wrappers(vit_classifier):
    family, backbone = find_backbone(nn.DataParallel(vit_classifier))
    assert backbone is vit_classifier.backbone
    assert family.name == 'mmpretrain VisionTransformer'
    assert find_backbone(vit_classifier.backbone)[1] is vit_classifier.backbone
    names = [unit.name for unit in prunable_units(nn.DataParallel(vit_classifier))]
    assert names == ['layers.0', 'layers.1', 'layers.2', 'layers.3']


@pytest.mark.parametrize('adapter_type', ['RepAdapter', 'Convpass'])
def test_adapted_backbone_prunes_with_its_adapters(adapter_type):
    model = adapted_classifier(adapter_type)
    inner = model.backbone.backbone
    assert find_backbone(model)[1] is inner
    reference = copy.deepcopy(model)
    removed_adapter = inner.layers[1].adapter_attn

    prune_depth(model, [0, 2])
    assert len(model.backbone.adapters()) == 4  # attention + MLP adapter of the 2 kept layers
    assert all(adapter is not removed_adapter for adapter in model.backbone.adapters())
    assert not any(key.startswith('backbone.layers.1.') for key in model.state_dict())
    assert 'backbone.layers.2.adapter_mlp' in {key.rsplit('.', 2)[0] for key in model.state_dict()}

    images = torch.randn(2, 3, 32, 32)
    ref_vit = reference.backbone.backbone
    with torch.no_grad():
        x, _ = ref_vit.patch_embed(images)
        x = torch.cat([ref_vit.cls_token.expand(2, -1, -1), x], dim=1) + ref_vit.pos_embed
        x = ref_vit.layers[2](ref_vit.layers[0](x))  # adapters act inside the kept layers
        torch.testing.assert_close(model.backbone(images)[0], ref_vit.ln1(x)[:, 0])


def test_depth_keep_is_the_first_k_units(vit_classifier):
    assert depth_keep(vit_classifier, 2) == [0, 1]
    assert depth_keep(vit_classifier, 4) == [0, 1, 2, 3]
    for bad in (0, 5, 2.0, True):
        with pytest.raises(ValueError, match=r'depth must be an int in 1\.\.4'):
            depth_keep(vit_classifier, bad)


@pytest.mark.parametrize('keep,error,message', [
    ([], ValueError, 'keep is empty: pruning every unit'),
    ([0, 4], ValueError, r'position 4, which is not a unit: prunable_units\(model\) lists 4 units '
                         r'\(positions 0\.\.3\)'),
    ([-1], ValueError, 'position -1, which is not a unit'),
    ([1, 1], ValueError, r'lists position 1 \(layers\.1\) twice'),
    ([0.5], TypeError, 'keep must be a sequence of int positions'),
    (3, TypeError, 'keep must be a sequence of int positions'),
])
def test_bad_keep_is_refused_and_changes_nothing(vit_classifier, keep, error, message):
    with pytest.raises(error, match=message):
        prune_depth(vit_classifier, keep)
    assert len(prunable_units(vit_classifier)) == 4
    assert vit_classifier.backbone.out_indices == [3]


def test_keep_order_does_not_matter(vit_classifier):
    prune_depth(vit_classifier, [3, 0])
    assert [unit.name for unit in prunable_units(vit_classifier)] == ['layers.0', 'layers.3']


def test_keeping_everything_changes_nothing(vit_classifier):
    layers = vit_classifier.backbone.layers
    prune_depth(vit_classifier, range(4))
    assert vit_classifier.backbone.layers is layers


def test_unsupported_model_is_named():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match='no prunable backbone found in Sequential: depth pruning '
                       'supports .*mmdet SwinTransformer'):
        prunable_units(model)


def test_a_bare_backbone_is_its_own_backbone():
    swin = build('mmdet', swin_backbone_cfg())
    family, backbone = find_backbone(swin)
    assert family.name == 'mmdet SwinTransformer' and backbone is swin
