"""Block-level pieces of UPDP's merge: blends, BatchNorm stand-ins, merged block specs, and the
family interface's refusal for families without a merged form."""
import pytest
import torch
from torch import nn

from mmsls.families import FAMILIES
from mmsls.families.merging import (BlendedActivation, BlendedNorm, MergedConvBlock,
                                    build_merged_block)


def test_blended_activation_keeps_its_input_with_an_inplace_activation():
    act = BlendedActivation(nn.ReLU(inplace=True), blend=0.3)
    x = torch.randn(4, 5)
    kept = x.clone()
    torch.testing.assert_close(act(x), 0.7 * kept.clamp(min=0) + 0.3 * kept)
    assert torch.equal(x, kept)
    act.blend = 1.0
    assert act(x) is x


@pytest.mark.parametrize('data_format', ['channel_first', 'channel_last'])
def test_blended_layernorm2d_uses_the_channel_dimension_of_the_call(data_format):
    from mmpretrain.models.utils import LayerNorm2d
    norm = LayerNorm2d(6, eps=1e-6)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(6))
        norm.bias.copy_(torch.randn(6))
    blended = BlendedNorm(norm, blend=1.0)
    blended.eval()
    generator = torch.Generator().manual_seed(0)
    blended.bn.running_mean.copy_(torch.randn(6, generator=generator))
    blended.bn.running_var.copy_(torch.rand(6, generator=generator) + 0.5)
    x = torch.randn(2, 6, 3, 3) if data_format == 'channel_first' else torch.randn(2, 3, 3, 6)
    shape = (1, 6, 1, 1) if data_format == 'channel_first' else (6, )
    bn = blended.bn
    want = (x - bn.running_mean.view(shape)) / (bn.running_var.view(shape) + bn.eps).sqrt() \
        * norm.weight.view(shape) + norm.bias.view(shape)
    with torch.no_grad():
        torch.testing.assert_close(blended(x, data_format=data_format), want)
        blended.blend = 0.0
        assert torch.equal(blended(x, data_format=data_format), norm(x, data_format=data_format))
    # The norm's keys stay; the stand-in adds its own.
    assert {'weight', 'bias', 'bn.weight', 'bn.running_mean'} <= set(blended.state_dict())


def test_layernorm_over_two_dimensions_has_no_standin():
    with pytest.raises(TypeError, match='LayerNorm has no BatchNorm stand-in'):
        BlendedNorm(nn.LayerNorm([4, 4]))


def test_merged_block_spec_round_trip_and_refusal():
    block = MergedConvBlock(8, 16, 3, 2, 1, border=True)
    rebuilt = build_merged_block(block.spec())
    assert rebuilt.spec() == block.spec()
    assert list(rebuilt.state_dict()) == list(block.state_dict())
    with pytest.raises(ValueError, match='"type" is one of'):
        build_merged_block(dict(type='Conv2d'))
    with pytest.raises(ValueError, match='does not build'):
        build_merged_block(dict(type='MergedConvBlock', channels=3))


def test_families_without_a_merged_form_say_so():
    from mmsls.families import BackboneFamily
    declared = {family.name for family in FAMILIES
                if type(family).linear_sites is not BackboneFamily.linear_sites}
    assert declared == {'mmpretrain VisionTransformer', 'mmpretrain ResNet', 'mmpretrain ConvNeXt',
                        'mmpretrain MobileNetV2'}
    for family in FAMILIES:
        if family.name not in declared:
            assert 'declares no linear form and no merged block' in family.merge_blocker(
                nn.Identity())
            with pytest.raises(NotImplementedError, match=f'no merged form for the {family.name}'):
                family.linear_sites(nn.Identity())
