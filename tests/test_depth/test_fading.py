"""Fading blocks out: exact at blend 0 (the model) and 1 (the pruned model) for every family."""
import copy
import pickle

import pytest
import torch

from mmsls.depth import prunable_units, prune_depth
from mmsls.depth.fading import BlockFade, FadedBlocks, bypassed, named_units
from .conftest import build, swin_backbone_cfg, vit_classifier_cfg
from ..test_families.test_cnn import CONVNEXT, MOBILENET, RESNET50

# scope, model config, input shape, blocks to fade (none is required).
FAMILIES = {
    'vit': ('mmpretrain', vit_classifier_cfg(), (2, 3, 32, 32), ['layers.1', 'layers.3']),
    'swin': ('mmdet', swin_backbone_cfg(), (2, 3, 64, 64), ['stages.1.blocks.1',
                                                             'stages.2.blocks.2']),
    'resnet': ('mmpretrain', RESNET50, (2, 3, 32, 32), ['layer1.2', 'layer3.1', 'layer3.4']),
    'convnext': ('mmpretrain', CONVNEXT, (2, 3, 32, 32), ['stages.0.1', 'stages.2.2']),
    'mobilenet_v2': ('mmpretrain', MOBILENET, (2, 3, 32, 32), ['layer3.1', 'layer6.2']),
}


def forward(model, x):
    with torch.no_grad():
        out = model(x, mode='tensor') if hasattr(model, 'data_preprocessor') else model(x)
    return [out] if torch.is_tensor(out) else list(out)


@pytest.mark.parametrize('family', list(FAMILIES))
def test_blend_0_is_the_model_and_blend_1_the_pruned_model(family):
    scope, cfg, shape, names = FAMILIES[family]
    model = build(scope, cfg)
    x = torch.randn(shape)
    plain = forward(model, x)

    faded = FadedBlocks(model, names)
    for out, want in zip(forward(model, x), plain):
        assert torch.equal(out, want)

    faded.blend = 1.0
    at_one = forward(model, x)
    pruned = copy.deepcopy(model)
    prune_depth(pruned, [p for p, unit in enumerate(prunable_units(pruned)) if unit.name not in names])
    for out, want in zip(at_one, forward(pruned, x)):
        torch.testing.assert_close(out, want, rtol=0, atol=0)

    faded.blend = 0.5
    halfway = forward(model, x)
    assert not torch.allclose(halfway[-1], plain[-1])
    assert not torch.allclose(halfway[-1], at_one[-1])

    faded.detach()
    for out, want in zip(forward(model, x), plain):
        assert torch.equal(out, want)


@pytest.mark.parametrize('adapter', ['RepAdapter', 'Convpass'])
def test_adapted_vit_fades_with_its_adapters(adapter):
    cfg = vit_classifier_cfg()
    cfg['backbone'] = dict(type='mmsls.AdaptedBackbone', backbone=cfg['backbone'],
                           adapter=dict(type=adapter, hidden_dims=8, scale=1.0))
    model = build('mmpretrain', cfg)
    x = torch.randn(2, 3, 32, 32)
    pruned = copy.deepcopy(model)
    prune_depth(pruned, [0, 1, 3])
    # The adapters (random, non-zero: build() randomises every parameter) leave with their block.
    assert not any('layers.2.' in key for key in pruned.state_dict())
    assert not torch.allclose(forward(model, x)[0], forward(pruned, x)[0])
    FadedBlocks(model, ['layers.2'], blend=1.0)
    torch.testing.assert_close(forward(model, x)[0], forward(pruned, x)[0], rtol=0, atol=0)


def test_blend_follows_the_formula_on_a_block():
    model = build('mmpretrain', vit_classifier_cfg())
    block = model.backbone.layers[2]
    x = torch.randn(2, 17, 64)
    with torch.no_grad():
        full = block(x)
        faded = FadedBlocks(model, ['layers.2'], blend=0.3)
        torch.testing.assert_close(block(x), x + 0.7 * (full - x))
        faded.blend = 1.0
        assert torch.equal(block(x), x)


def test_a_copy_keeps_its_own_fade():
    model = build('mmpretrain', vit_classifier_cfg())
    x = torch.randn(2, 3, 32, 32)
    faded = FadedBlocks(model, ['layers.1'], blend=0.5)
    copied = copy.deepcopy(model)
    unpickled = pickle.loads(pickle.dumps(model))
    want = forward(model, x)[0]
    torch.testing.assert_close(forward(copied, x)[0], want)
    torch.testing.assert_close(forward(unpickled, x)[0], want)
    faded.blend = 1.0
    torch.testing.assert_close(forward(copied, x)[0], want)
    assert not torch.allclose(forward(model, x)[0], want)


def test_fading_a_shape_changing_block_fails_clearly():
    backbone = build('mmpretrain', RESNET50)
    FadedBlocks(backbone, ['layer2.0'], blend=0.5)
    with pytest.raises(ValueError, match=r'block layer2.0 maps an input of shape \(2, 32, 8, 8\) to '
                                         r'\(2, 64, 4, 4\)'):
        backbone(torch.randn(2, 3, 32, 32))


def test_bypassed_restores_the_blocks_even_on_error():
    model = build('mmpretrain', vit_classifier_cfg())
    x = torch.randn(2, 3, 32, 32)
    plain = forward(model, x)[0]
    with bypassed(model, ['layers.0', 'layers.2']) as faded:
        assert faded.blend == 1.0
        assert not torch.allclose(forward(model, x)[0], plain)
    with pytest.raises(RuntimeError, match='inside'):
        with bypassed(model, ['layers.1']):
            raise RuntimeError('inside')
    assert torch.equal(forward(model, x)[0], plain)


def test_named_units_errors():
    model = build('mmpretrain', vit_classifier_cfg())
    assert list(named_units(model, ['layers.3', 'layers.0'])) == ['layers.0', 'layers.3']
    with pytest.raises(ValueError, match=r"layers.9 is not a prunable unit of this model"):
        named_units(model, ['layers.9'])
    with pytest.raises(ValueError, match='listed twice'):
        named_units(model, ['layers.1', 'layers.1'])
    with pytest.raises(ValueError, match='no blocks named'):
        named_units(model, [])
    with pytest.raises(ValueError, match=r'blend must be in \[0, 1\]'):
        FadedBlocks(model, ['layers.1']).blend = 1.5


def test_block_fade_leaves_output_untouched_at_zero():
    fade = BlockFade('layers.0')
    output = torch.randn(3)
    assert fade(None, (torch.randn(3), ), {}, output) is None
