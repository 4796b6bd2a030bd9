import copy
import pickle
from collections import OrderedDict

import pytest
import torch
from torch import nn

from mmsls.adapters import (AdaptedBackbone, Convpass, RepAdapter, attach_adapters,
                            adapter_family, detach_adapter, named_adapters)
from mmsls.adapters.base import ParallelAdapterHook, SequentialAdapterHook
from mmsls.registry import MODELS
from .tiny_models import (ADAPTERS, BLOCKS, FAMILY_NAMES, TINY_BACKBONES, max_relative_error,
                          outputs, random_inputs, randomize)


def _adapter_hooks(model):
    """Every adapter hook in ``model`` as (hooked module, hook)."""
    for module in model.modules():
        for hook in [*module._forward_pre_hooks.values(), *module._forward_hooks.values()]:
            if isinstance(hook, (SequentialAdapterHook, ParallelAdapterHook)):
                yield module, hook


@pytest.mark.parametrize('family', FAMILY_NAMES)
@pytest.mark.parametrize('adapter', list(ADAPTERS))
@pytest.mark.parametrize('placement', ['attn_mlp', 'attn'])
def test_adapters_are_children_of_every_block(family, adapter, placement):
    backbone = MODELS.build(TINY_BACKBONES[family])
    attach_adapters(backbone, ADAPTERS[adapter], placement)
    adapters = dict(named_adapters(backbone))
    slots = {name.rsplit('.', 1)[1] for name in adapters}
    expected = {'adapter_attn', 'adapter_mlp'} if placement == 'attn_mlp' else {'adapter_attn'}
    assert slots == expected
    assert len(adapters) == BLOCKS[family] * len(slots)
    assert all(type(module).__name__ == adapter for module in adapters.values())
    # One hook per adapter, holding exactly that adapter.
    hooked = [hook.adapter for _, hook in _adapter_hooks(backbone)]
    assert sorted(map(id, hooked)) == sorted(map(id, adapters.values()))


def test_swin_repadapter_acts_on_the_windows_and_convpass_beside_the_attention():
    backbone = MODELS.build(TINY_BACKBONES['mmdet'])
    attach_adapters(backbone, dict(type='RepAdapter'))
    block = backbone.stages[0].blocks[0]
    assert [type(m).__name__ for m, _ in _adapter_hooks(block)] == ['WindowMSA', 'FFN']

    backbone = MODELS.build(TINY_BACKBONES['mmdet'])
    attach_adapters(backbone, dict(type='Convpass'))
    block = backbone.stages[0].blocks[0]
    assert [type(m).__name__ for m, _ in _adapter_hooks(block)] == ['ShiftWindowMSA', 'FFN']


@pytest.mark.parametrize('family', FAMILY_NAMES)
@pytest.mark.parametrize('adapter', list(ADAPTERS))
def test_adapters_change_the_output_once_trained(family, adapter):
    backbone = MODELS.build(TINY_BACKBONES[family])
    x = random_inputs(family)
    plain = outputs(backbone, x)
    attach_adapters(backbone, ADAPTERS[adapter])
    assert max_relative_error(plain, outputs(backbone, x)) == 0  # zero-initialised branches
    randomize(module for _, module in named_adapters(backbone))
    assert max_relative_error(plain, outputs(backbone, x)) > 1e-2


def test_convpass_reads_the_recorded_grid():
    """The tokens a ViT's Convpass reshapes follow the input's patch grid, here 6 x 4."""
    backbone = MODELS.build(TINY_BACKBONES['mmpretrain'])
    attach_adapters(backbone, dict(type='Convpass'))
    outputs(backbone, random_inputs('mmpretrain'))
    grids = {hook.grid.hw_shape for _, hook in _adapter_hooks(backbone)}
    assert grids == {(6, 4)}


def test_deit_distilled_vit_with_two_extra_tokens():
    backbone_cfg = dict(type='mmpretrain.DistilledVisionTransformer', arch='deit-tiny',
                        img_size=32, patch_size=8)
    model = AdaptedBackbone(backbone_cfg, dict(type='Convpass'))
    assert model.backbone.num_extra_tokens == 2
    randomize(model.adapters())
    cls_token, dist_token = outputs(model, torch.randn(2, 3, 32, 32))[0]
    assert cls_token.shape == dist_token.shape == (2, 192)


def test_unsupported_backbones_get_a_clear_error():
    with pytest.raises(TypeError, match='mmpretrain ResNet.*take none; supported backbones are '
                                        'mmpretrain VisionTransformer, mmseg VisionTransformer, '
                                        'mmdet SwinTransformer, mmpretrain SwinTransformer'):
        AdaptedBackbone(dict(type='mmpretrain.ResNet', depth=18), dict(type='RepAdapter'))
    with pytest.raises(TypeError, match='supported backbones are'):
        attach_adapters(nn.Linear(3, 3), dict(type='RepAdapter'))


def test_a_subclass_whose_blocks_have_the_family_sites_takes_adapters_and_merges_exactly():
    # DeiT3's blocks are other classes, but hold attn.qkv and an FFN at the paths the family names.
    from mmsls.adapters import merge_adapters
    model = AdaptedBackbone(dict(type='mmpretrain.DeiT3', arch=dict(
        embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
        img_size=32, patch_size=8), dict(type='RepAdapter'))
    randomize(model.adapters())
    x = torch.randn(2, 3, 32, 32)
    unmerged = outputs(model, x)
    assert merge_adapters(model) == 4
    assert max_relative_error(unmerged, outputs(model, x)) < 1e-5


def test_bad_configs_get_clear_errors():
    vit = TINY_BACKBONES['mmpretrain']
    with pytest.raises(ValueError, match="use type='RepAdapter' or type='Convpass'"):
        AdaptedBackbone(vit, dict(type='LoRA'))
    with pytest.raises(ValueError, match='Do not set embed_dims'):
        AdaptedBackbone(vit, dict(type='RepAdapter', embed_dims=64))
    with pytest.raises(ValueError, match="placement='mlp' is not one of"):
        AdaptedBackbone(vit, dict(type='RepAdapter'), placement='mlp')
    with pytest.raises(TypeError, match='has no ffn.layers.0.0.*default attention and FFN'):
        AdaptedBackbone(dict(vit, layer_cfgs=dict(ffn_type='swiglu_fused')),
                        dict(type='RepAdapter'))
    backbone = MODELS.build(vit)
    attach_adapters(backbone, dict(type='RepAdapter'))
    with pytest.raises(ValueError, match='already has an adapter_attn'):
        attach_adapters(backbone, dict(type='RepAdapter'))


def test_adapter_config_is_not_modified():
    adapter = dict(type='RepAdapter', scale=0.5)
    backbone = dict(TINY_BACKBONES['mmpretrain'])
    AdaptedBackbone(backbone, adapter)
    assert adapter == dict(type='RepAdapter', scale=0.5)
    assert backbone == TINY_BACKBONES['mmpretrain']


def test_adapter_types_resolve_in_the_mmsls_registry_under_another_default_scope():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = AdaptedBackbone(dict(TINY_BACKBONES['mmpretrain'], type='VisionTransformer'),
                                dict(type='Convpass'))
    assert all(isinstance(adapter, Convpass) for adapter in model.adapters())
    assert adapter_family(model.backbone).name.startswith('mmpretrain')


@pytest.mark.parametrize('family', FAMILY_NAMES)
@pytest.mark.parametrize('adapter', list(ADAPTERS))
def test_deepcopy_and_pickle_keep_hooks_bound_to_their_own_adapters(family, adapter):
    model = AdaptedBackbone(TINY_BACKBONES[family], ADAPTERS[adapter])
    randomize(model.adapters())
    x = random_inputs(family)
    reference = outputs(model, x)

    clone = copy.deepcopy(model)
    own = {id(a) for a in clone.adapters()}
    assert all(id(hook.adapter) in own for _, hook in _adapter_hooks(clone))
    assert max_relative_error(reference, outputs(clone, x)) == 0
    randomize(clone.adapters())  # changing the copy must leave the original alone
    assert max_relative_error(reference, outputs(model, x)) == 0
    assert max_relative_error(reference, outputs(clone, x)) > 1e-2

    unpickled = pickle.loads(pickle.dumps(model))
    own = {id(a) for a in unpickled.adapters()}
    assert all(id(hook.adapter) in own for _, hook in _adapter_hooks(unpickled))
    assert max_relative_error(reference, outputs(unpickled, x)) == 0


def test_detach_adapter_leaves_a_plain_block():
    backbone = MODELS.build(TINY_BACKBONES['mmseg'])
    x = random_inputs('mmseg')
    plain = outputs(backbone, x)
    attach_adapters(backbone, dict(type='RepAdapter'))
    randomize(module for _, module in named_adapters(backbone))
    for block in backbone.layers:
        assert isinstance(detach_adapter(block, 'adapter_attn'), RepAdapter)
        detach_adapter(block, 'adapter_mlp')
    assert not list(named_adapters(backbone)) and not list(_adapter_hooks(backbone))
    assert max_relative_error(plain, outputs(backbone, x)) == 0


def test_blocks_are_found_in_containers_with_non_contiguous_names():
    """A pruned model keeps original indices as names (layers.0, layers.2)."""
    backbone = MODELS.build(TINY_BACKBONES['mmpretrain'])
    backbone.layers = nn.Sequential(OrderedDict(
        (name, layer) for name, layer in backbone.layers.named_children() if name in ('0', '2')))
    attach_adapters(backbone, dict(type='RepAdapter'))
    assert sorted(dict(named_adapters(backbone))) == [
        'layers.0.adapter_attn', 'layers.0.adapter_mlp', 'layers.2.adapter_attn',
        'layers.2.adapter_mlp']
