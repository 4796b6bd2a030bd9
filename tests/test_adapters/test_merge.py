from collections import OrderedDict

import pytest
import torch
from torch import nn

from mmsls.adapters import AdaptedBackbone, merge_adapters, named_adapters
from mmsls.adapters.base import ParallelAdapterHook, SequentialAdapterHook
from mmsls.registry import MODELS
from .tiny_models import (BLOCKS, FAMILY_NAMES, TINY_BACKBONES, max_relative_error, outputs,
                          random_inputs, randomize)


def _has_adapter_hooks(model):
    return any(isinstance(hook, (SequentialAdapterHook, ParallelAdapterHook))
               for module in model.modules()
               for hook in [*module._forward_pre_hooks.values(), *module._forward_hooks.values()])


@pytest.mark.parametrize('family', FAMILY_NAMES)
@pytest.mark.parametrize('placement', ['attn_mlp', 'attn'])
@pytest.mark.parametrize('scale', [1.0, 5.0])
def test_merged_equals_unmerged(family, placement, scale):
    model = AdaptedBackbone(TINY_BACKBONES[family], dict(type='RepAdapter', scale=scale),
                            placement=placement)
    model.init_weights()
    x = random_inputs(family)
    plain = outputs(model, x)  # fresh adapters are the identity
    randomize(model.adapters())  # down, up (B) and both biases random and non-zero
    unmerged = outputs(model, x)
    assert max_relative_error(plain, unmerged) > 1e-2  # so a merge that dropped them would fail

    merged = merge_adapters(model)

    assert merged == BLOCKS[family] * (2 if placement == 'attn_mlp' else 1)
    assert not list(named_adapters(model)) and not _has_adapter_hooks(model)
    assert max_relative_error(unmerged, outputs(model, x)) < 1e-5


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_merged_state_dict_loads_strictly_into_the_plain_backbone(family):
    model = AdaptedBackbone(TINY_BACKBONES[family], dict(type='RepAdapter'))
    model.init_weights()
    randomize(model.adapters())
    x = random_inputs(family)
    unmerged = outputs(model, x)
    merge_adapters(model)
    plain = MODELS.build(TINY_BACKBONES[family])
    plain.requires_grad_(False)  # as the wrapped one (see test_adapted_backbone._frozen_plain)
    plain.load_state_dict(model.state_dict(), strict=True)
    assert max_relative_error(unmerged, outputs(plain, x)) < 1e-5


def test_merge_follows_pruned_containers():
    model = AdaptedBackbone(TINY_BACKBONES['mmpretrain'], dict(type='RepAdapter'))
    model.init_weights()
    layers = model.backbone.layers
    model.backbone.layers = nn.Sequential(OrderedDict(
        (name, layer) for name, layer in layers.named_children() if name in ('1', '3')))
    model.backbone.out_indices = [1]  # the forward enumerates the surviving layers
    randomize(model.adapters())
    x = random_inputs('mmpretrain')
    unmerged = outputs(model, x)
    assert merge_adapters(model) == 4
    assert max_relative_error(unmerged, outputs(model, x)) < 1e-5


def test_convpass_is_left_in_place_with_a_warning_or_refused_when_strict():
    model = AdaptedBackbone(TINY_BACKBONES['mmdet'], dict(type='Convpass'))
    randomize(model.adapters())
    x = random_inputs('mmdet')
    before = outputs(model, x)
    with pytest.raises(ValueError, match='10 Convpass adapters cannot be merged'):
        merge_adapters(model, strict=True)
    with pytest.warns(UserWarning, match='10 Convpass adapters are not mergeable'):
        assert merge_adapters(model) == 0
    assert len(model.adapters()) == 10
    assert max_relative_error(before, outputs(model, x)) == 0


def test_a_projection_without_bias_is_explained():
    model = AdaptedBackbone(dict(TINY_BACKBONES['mmpretrain'], qkv_bias=False),
                            dict(type='RepAdapter'))
    with pytest.raises(ValueError, match='has no bias.*qkv_bias=True'):
        merge_adapters(model)


def test_merge_works_on_a_whole_model_and_keeps_dtype():
    container = nn.Module()
    container.backbone = AdaptedBackbone(TINY_BACKBONES['mmseg'], dict(type='RepAdapter'))
    assert merge_adapters(container) == 8
    assert {p.dtype for p in container.parameters()} == {torch.float32}


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_merge_and_unload_returns_the_plain_backbone(family):
    model = AdaptedBackbone(TINY_BACKBONES[family], dict(type='RepAdapter'))
    model.init_weights()
    randomize(model.adapters())
    x = random_inputs(family)
    unmerged = outputs(model, x)
    plain = model.merge_and_unload()
    assert type(plain) is type(MODELS.build(TINY_BACKBONES[family]))
    assert not list(named_adapters(plain)) and not _has_adapter_hooks(plain)
    assert max_relative_error(unmerged, outputs(plain, x)) < 1e-5


def test_merge_and_unload_refuses_convpass_and_changes_nothing():
    model = AdaptedBackbone(TINY_BACKBONES['mmpretrain'], dict(type='Convpass'))
    with pytest.raises(ValueError, match='Convpass adapters cannot be merged'):
        model.merge_and_unload()
    assert len(model.adapters()) == 8
