import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import load_checkpoint
from torch import nn

from mmsls.adapters import AdaptedBackbone, count_parameters
from mmsls.registry import MODELS
from .tiny_models import (ADAPTERS, FAMILY_NAMES, TINY_BACKBONES, max_relative_error, outputs,
                          random_inputs, randomize)


def _frozen_plain(family):
    """A randomly initialised plain backbone, frozen like a wrapped one: nn.MultiheadAttention
    (mmseg) takes another kernel path when no weight requires grad, which changes float rounding."""
    plain = MODELS.build(TINY_BACKBONES[family])
    plain.init_weights()
    plain.requires_grad_(False)
    return plain


def _plain_and_checkpoint(family, tmp_path):
    """A plain backbone and a checkpoint of it in the form its family's ``Pretrained`` init reads
    (mmdet's Swin takes only keys under ``backbone.``)."""
    plain = _frozen_plain(family)
    state = plain.state_dict()
    if family == 'mmdet':
        state = {'backbone.' + key: value for key, value in state.items()}
    path = tmp_path / 'plain.pth'
    torch.save({'state_dict': state}, path)
    return plain, path


def _assert_holds_plain_weights(model, plain):
    """Every plain key is in the adapted state dict, with the plain value."""
    adapted = model.state_dict()
    for key, value in plain.state_dict().items():
        assert torch.equal(adapted[key], value), key


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_state_dict_uses_plain_key_names(family):
    plain_keys = set(MODELS.build(TINY_BACKBONES[family]).state_dict())
    model = AdaptedBackbone(TINY_BACKBONES[family], dict(type='RepAdapter'))
    keys = set(model.state_dict())
    assert plain_keys <= keys
    extra = keys - plain_keys
    assert extra and all('.adapter_attn.' in key or '.adapter_mlp.' in key for key in extra)
    # Nested in a model, the wrapper's keys sit under its own name, as a plain backbone's would.
    container = nn.Module()
    container.backbone = model
    assert set(container.state_dict()) == {'backbone.' + key for key in keys}


@pytest.mark.parametrize('family', FAMILY_NAMES)
@pytest.mark.parametrize('adapter', list(ADAPTERS))
def test_state_dict_round_trip(family, adapter):
    model = AdaptedBackbone(TINY_BACKBONES[family], ADAPTERS[adapter])
    model.init_weights()
    randomize(model.adapters())
    x = random_inputs(family)
    fresh = AdaptedBackbone(TINY_BACKBONES[family], ADAPTERS[adapter])
    assert max_relative_error(outputs(model, x), outputs(fresh, x)) > 1e-3
    result = fresh.load_state_dict(model.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert max_relative_error(outputs(model, x), outputs(fresh, x)) == 0


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_plain_checkpoint_through_the_inner_pretrained_init_cfg(family, tmp_path):
    plain, path = _plain_and_checkpoint(family, tmp_path)
    backbone = dict(TINY_BACKBONES[family], init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model = AdaptedBackbone(backbone, dict(type='RepAdapter'))
    model.init_weights()
    _assert_holds_plain_weights(model, plain)
    x = random_inputs(family)
    assert max_relative_error(outputs(plain, x), outputs(model, x)) == 0  # B starts at zero


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_plain_state_dict_loads_with_no_missing_backbone_keys(family, tmp_path):
    """The ``load_from`` route: MMEngine's load_checkpoint, and torch's load_state_dict."""
    plain = _frozen_plain(family)
    path = tmp_path / 'plain.pth'
    torch.save({'state_dict': plain.state_dict()}, path)

    model = AdaptedBackbone(TINY_BACKBONES[family], dict(type='Convpass'))
    result = model.load_state_dict(plain.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all('.adapter_' in key for key in result.missing_keys)

    model = AdaptedBackbone(TINY_BACKBONES[family], dict(type='Convpass'))
    load_checkpoint(model, str(path), map_location='cpu', strict=False)
    _assert_holds_plain_weights(model, plain)
    x = random_inputs(family)
    assert max_relative_error(outputs(plain, x), outputs(model, x)) == 0


def test_wrapper_pretrained_init_cfg_loads_trained_adapters_after_their_init(tmp_path):
    trained = AdaptedBackbone(TINY_BACKBONES['mmseg'], dict(type='RepAdapter'))
    trained.init_weights()
    randomize(trained.adapters())
    path = tmp_path / 'adapted.pth'
    torch.save(trained.state_dict(), path)
    model = AdaptedBackbone(TINY_BACKBONES['mmseg'], dict(type='RepAdapter'),
                            init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    x = random_inputs('mmseg')
    assert max_relative_error(outputs(trained, x), outputs(model, x)) == 0


@pytest.mark.parametrize('adapter', list(ADAPTERS))
def test_generic_init_cfgs_do_not_clobber_the_adapter_init(adapter):
    """The official ViT config's Kaiming-on-Conv2d init_cfg, a parent's TruncNormal on Linear and
    mmdet Swin's own init (trunc-normal on every Linear) all reach the adapters' layers first."""
    vit = dict(TINY_BACKBONES['mmpretrain'],
               init_cfg=[dict(type='Kaiming', layer='Conv2d', mode='fan_in')])
    wrapper_init = [dict(type='TruncNormal', layer='Linear', std=.02),
                    dict(type='Constant', layer=['Conv1d', 'Conv2d'], val=1.)]
    for backbone, init_cfg in ((vit, wrapper_init), (TINY_BACKBONES['mmdet'], None)):
        model = AdaptedBackbone(backbone, ADAPTERS[adapter], init_cfg=init_cfg)
        model.init_weights()
        for module in model.adapters():
            assert torch.count_nonzero(module.up.weight) == 0
            assert torch.count_nonzero(module.down.bias) == 0
            # xavier-uniform bound sqrt(6 / (fan_in + fan_out)), not trunc-normal(0.02) or 1
            bound = (6 / sum(module.down.weight.shape)) ** 0.5
            assert 0.5 * bound < module.down.weight.abs().max() <= bound


@pytest.mark.parametrize('family', FAMILY_NAMES)
@pytest.mark.parametrize('train_bias', [False, True])
def test_freezing(family, train_bias):
    model = AdaptedBackbone(TINY_BACKBONES[family], dict(type='RepAdapter'),
                            train_bias=train_bias)
    adapter_params = {id(p) for adapter in model.adapters() for p in adapter.parameters()}
    for name, param in model.named_parameters():
        expected = id(param) in adapter_params or (train_bias and name.endswith('bias'))
        assert param.requires_grad == expected, name
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.LayerNorm)]
    assert norms and not any(m.weight.requires_grad for m in norms)
    assert all(m.bias.requires_grad == train_bias for m in norms)

    unfrozen = AdaptedBackbone(TINY_BACKBONES[family], dict(type='RepAdapter'), frozen=False)
    assert all(param.requires_grad for param in unfrozen.parameters())


def test_trainable_parameter_count_is_logged_at_init():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        model = AdaptedBackbone(TINY_BACKBONES['mmpretrain'], dict(type='RepAdapter'))
        model.init_weights()
    finally:
        logger.removeHandler(handler)
    count = count_parameters(model)
    messages = [r.getMessage() for r in records if r.getMessage().startswith('AdaptedBackbone')]
    # 8 adapters of 64*8+8 (down) + 64*4+64 (grouped up) = 840 parameters each
    assert count.trainable == 8 * 840
    assert messages == [f'AdaptedBackbone (mmpretrain VisionTransformer): '
                        f'{count.trainable:,} of {count.total:,} backbone parameters trainable '
                        f'({count.trainable:,} in 8 adapters).']


def test_count_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].weight.requires_grad = False
    assert count_parameters(model) == (4 + 4 * 2 + 2, 12 + 4 + 8 + 2)
    assert count_parameters(model).trainable == 14


def test_layer_depth_for_layer_decay_reads_through_the_wrapper():
    model = AdaptedBackbone(TINY_BACKBONES['mmpretrain'], dict(type='RepAdapter'))
    names = dict(model.named_parameters())
    assert 'backbone.layers.2.adapter_attn.down.weight' in names
    assert model.get_layer_depth('backbone.layers.2.adapter_attn.down.weight') == (3, 6)
    assert model.get_layer_depth('backbone.backbone.pos_embed', prefix='backbone.') == (0, 6)


def test_non_dict_configs_are_rejected():
    with pytest.raises(TypeError, match='backbone must be a config dict, got VisionTransformer'):
        AdaptedBackbone(MODELS.build(TINY_BACKBONES['mmpretrain']), dict(type='RepAdapter'))
