"""Feature views: each family's unit outputs read as the libraries' own outputs define them."""
import pytest
import torch

from mmsls.depth import find_backbone
from mmsls.families import BackboneFamily
from mmsls.families.swin import SwinBlocksView
from mmsls.families.vit import ViTTokensView


def read_units(backbone, method):
    """Every unit's view (``image_vector`` or ``token_grid``) from one forward pass."""
    family, _ = find_backbone(backbone)
    view = family.feature_view(backbone)
    units = family.units(backbone)
    read = {}
    handles = view.register_context_hooks()
    for position, unit in enumerate(units):
        def hook(module, args, kwargs, output, unit=unit, position=position):
            read[position] = getattr(view, method)(unit, args, kwargs, output)
        handles.append(unit.module.register_forward_hook(hook, with_kwargs=True))
    return view, read, handles


def run(backbone, inputs, method):
    view, read, handles = read_units(backbone, method)
    with torch.no_grad():
        backbone(inputs)
    for handle in handles:
        handle.remove()
    return view, [read[position] for position in sorted(read)]


def test_mmpretrain_vit_cls_token_before_final_norm():
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    # mmpretrain's own per-layer cls tokens: every layer an output, no final norm.
    backbone = VisionTransformer(
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
        img_size=32, patch_size=8, out_indices=(0, 1, 2, 3), out_type='cls_token',
        final_norm=False)
    backbone.eval()
    inputs = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        reference = backbone(inputs)
    view, vectors = run(backbone, inputs, 'image_vector')
    assert isinstance(view, ViTTokensView) and view.num_extra_tokens == 1
    assert len(vectors) == 4
    for vector, expected in zip(vectors, reference):
        torch.testing.assert_close(vector, expected)


def test_mmpretrain_vit_reads_before_the_final_norm_of_the_last_layer():
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    backbone = VisionTransformer(
        arch=dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128),
        img_size=32, patch_size=8, out_type='cls_token', final_norm=True)
    backbone.eval()
    inputs = torch.randn(2, 3, 32, 32)
    _, vectors = run(backbone, inputs, 'image_vector')
    with torch.no_grad():
        normed = backbone(inputs)[-1]
    # The final norm makes each token zero-mean over channels; the captured token is not.
    torch.testing.assert_close(backbone.ln1(vectors[-1]), normed)
    assert vectors[-1].mean(dim=1).abs().max() > 1e-3


def test_mmseg_vit_token_grid_and_cls_token():
    from mmseg.models.backbones import VisionTransformer
    torch.manual_seed(0)
    backbone = VisionTransformer(img_size=(48, 64), patch_size=8, embed_dims=64, num_layers=3,
                                 num_heads=4, out_indices=(0, 1, 2), final_norm=False,
                                 with_cls_token=True, output_cls_token=True)
    backbone.eval()
    inputs = torch.randn(2, 3, 48, 64)
    with torch.no_grad():
        reference = backbone(inputs)
    _, grids = run(backbone, inputs, 'token_grid')
    _, vectors = run(backbone, inputs, 'image_vector')
    for grid, vector, (expected_grid, expected_cls) in zip(grids, vectors, reference):
        assert grid.shape == (2, 64, 6, 8)
        torch.testing.assert_close(grid, expected_grid)
        torch.testing.assert_close(vector, expected_cls)


def test_mmseg_vit_without_cls_token_pools_the_patch_tokens():
    from mmseg.models.backbones import VisionTransformer
    torch.manual_seed(0)
    backbone = VisionTransformer(img_size=(32, 32), patch_size=8, embed_dims=64, num_layers=2,
                                 num_heads=4, out_indices=(0, 1), final_norm=False,
                                 with_cls_token=False)
    backbone.eval()
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = backbone(inputs)
    view, vectors = run(backbone, inputs, 'image_vector')
    assert view.num_extra_tokens == 0
    for vector, expected_grid in zip(vectors, reference):
        torch.testing.assert_close(vector, expected_grid.mean(dim=(2, 3)))


@pytest.fixture
def swin():
    from mmdet.models.backbones import SwinTransformer
    torch.manual_seed(0)
    backbone = SwinTransformer(embed_dims=32, depths=(1, 2, 2, 1), num_heads=(1, 2, 4, 8),
                               window_size=4, mlp_ratio=2, out_indices=(0, 1, 2, 3))
    backbone.eval()
    return backbone


@pytest.fixture
def mmpretrain_swin():
    from mmpretrain.models.backbones import SwinTransformer
    torch.manual_seed(0)
    backbone = SwinTransformer(arch=dict(embed_dims=32, depths=(1, 2, 2, 1), num_heads=(1, 2, 4, 8)),
                               img_size=64, window_size=4, pad_small_map=True,
                               out_indices=(0, 1, 2, 3))
    backbone.eval()
    return backbone


def stage_inputs(backbone, inputs):
    """Each stage's input tokens and grid, recorded from a real forward pass."""
    recorded = []
    handles = [stage.register_forward_pre_hook(lambda m, args: recorded.append(args))
               for stage in backbone.stages]
    with torch.no_grad():
        backbone(inputs)
    for handle in handles:
        handle.remove()
    return recorded


@pytest.mark.parametrize('backbone', ['swin', 'mmpretrain_swin'])
def test_swin_pooled_blocks_last_of_stage_through_patch_merging(backbone, request):
    swin = request.getfixturevalue(backbone)  # mmdet's, or mmpretrain's (the same view)
    inputs = torch.randn(2, 3, 64, 64)
    view, vectors = run(swin, inputs, 'image_vector')
    assert isinstance(view, SwinBlocksView)
    expected = []
    with torch.no_grad():
        for stage, (x, hw_shape) in zip(swin.stages, stage_inputs(swin, inputs)):
            blocks = list(stage.blocks)
            for block in blocks:
                x = block(x, hw_shape)
                if stage.downsample is not None and block is blocks[-1]:
                    merged, _ = stage.downsample(x, hw_shape)
                    expected.append(merged.mean(dim=1))
                else:
                    expected.append(x.mean(dim=1))
    # Stage depths (1, 2, 2, 1): only the last block of stages 0-2 reads merged (doubled) channels.
    assert [vector.shape[1] for vector in vectors] == [64, 64, 128, 128, 256, 256]
    for vector, reference in zip(vectors, expected):
        torch.testing.assert_close(vector, reference)


def test_swin_last_block_of_a_stage_is_the_stage_merged_output(swin):
    """Independent of the view's code: the stage's own downsampled output, pooled."""
    inputs = torch.randn(2, 3, 64, 64)
    merged = []
    handles = [stage.register_forward_hook(lambda m, args, out: merged.append(out[0]))
               for stage in swin.stages[:3]]
    _, vectors = run(swin, inputs, 'image_vector')
    for handle in handles:
        handle.remove()
    last_of_stage = [0, 2, 4]  # unit positions of the last block of stages 0, 1, 2
    for position, stage_output in zip(last_of_stage, merged):
        torch.testing.assert_close(vectors[position], stage_output.mean(dim=1))


def test_swin_token_grid_is_the_block_output_on_its_grid(swin):
    inputs = torch.randn(2, 3, 64, 64)
    stage_outputs = []
    handles = [stage.register_forward_hook(lambda m, args, out: stage_outputs.append(out[2:]))
               for stage in swin.stages]
    _, grids = run(swin, inputs, 'token_grid')
    for handle in handles:
        handle.remove()
    assert [tuple(grid.shape[1:]) for grid in grids] == [
        (32, 16, 16), (64, 8, 8), (64, 8, 8), (128, 4, 4), (128, 4, 4), (256, 2, 2)]
    for position, (tokens, hw_shape) in zip([0, 2, 4, 5], stage_outputs):
        expected = tokens.transpose(1, 2).reshape(2, -1, *hw_shape)
        torch.testing.assert_close(grids[position], expected)


@pytest.mark.parametrize('backbone_cfg', [
    dict(type='ResNet', depth=18, out_indices=(3, )),
    dict(type='ConvNeXt', arch=dict(depths=[1, 2, 1, 1], channels=[8, 16, 32, 64])),
    dict(type='MobileNetV2', widen_factor=0.25),
], ids=['resnet', 'convnext', 'mobilenetv2'])
def test_cnn_blocks_are_their_feature_maps_and_global_averages(backbone_cfg):
    from mmpretrain.registry import MODELS
    backbone = MODELS.build(backbone_cfg)
    backbone.eval()
    outputs = []
    handles = [unit.module.register_forward_hook(lambda m, args, out: outputs.append(out))
               for unit in find_backbone(backbone)[0].units(backbone)]
    _, vectors = run(backbone, torch.randn(2, 3, 32, 32), 'image_vector')
    _, grids = run(backbone, torch.randn(2, 3, 32, 32), 'token_grid')
    for handle in handles:
        handle.remove()
    count = len(vectors)
    assert count == len(grids) > 3
    for vector, output in zip(vectors, outputs[:count]):
        torch.testing.assert_close(vector, output.mean(dim=(2, 3)))
    for grid, output in zip(grids, outputs[count:]):
        assert grid.dim() == 4
        torch.testing.assert_close(grid, output)


def test_family_without_a_view_is_refused():
    class OtherFamily(BackboneFamily):
        name = 'other backbone'

    with pytest.raises(NotImplementedError, match='no SLS feature view for the other backbone family'):
        OtherFamily().feature_view(torch.nn.Identity())
