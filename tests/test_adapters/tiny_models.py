"""Tiny backbones of every family that takes adapters, and helpers shared by the adapter tests."""
import torch

# Real mm classes at tiny sizes. Swin's window 7 on a 64 px input pads every stage (grids 16, 8, 4,
# 2), and its stage 3 has a shifted block: the hard cases for merging.
TINY_BACKBONES = {
    'mmpretrain': dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
        img_size=32, patch_size=8, out_type='featmap', drop_path_rate=0.1),
    'mmdet': dict(
        type='mmdet.SwinTransformer', embed_dims=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8),
        window_size=7, drop_path_rate=0.1, out_indices=(1, 2, 3)),
    'mmseg': dict(
        type='mmseg.VisionTransformer', img_size=(32, 32), patch_size=8, embed_dims=64,
        num_layers=4, num_heads=4, out_indices=(1, 3), drop_path_rate=0.1),
    # The classification Swin (Swin-T/S/B's structure), padded and shifted as mmdet's above.
    'mmpretrain_swin': dict(
        type='mmpretrain.SwinTransformer', arch=dict(embed_dims=32, depths=[1, 1, 2, 1],
                                                     num_heads=[1, 2, 4, 8]),
        img_size=64, window_size=7, pad_small_map=True, drop_path_rate=0.1, out_indices=(1, 2, 3)),
    # A ViT without a cls token: every token is a patch token.
    'mmpretrain_nocls': dict(
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
        img_size=32, patch_size=8, out_type='avg_featmap', with_cls_token=False,
        drop_path_rate=0.1),
}
#: Blocks (prunable units) of each tiny backbone.
BLOCKS = {'mmpretrain': 4, 'mmdet': 5, 'mmseg': 4, 'mmpretrain_swin': 5, 'mmpretrain_nocls': 4}
# Non-square, and for the ViTs not the size their position embedding was built for.
INPUT_SHAPES = {'mmpretrain': (2, 3, 48, 32), 'mmdet': (2, 3, 64, 48), 'mmseg': (2, 3, 48, 32),
                'mmpretrain_swin': (2, 3, 64, 48), 'mmpretrain_nocls': (2, 3, 48, 32)}
FAMILY_NAMES = list(TINY_BACKBONES)
ADAPTERS = {'RepAdapter': dict(type='RepAdapter'), 'Convpass': dict(type='Convpass')}


def random_inputs(family: str) -> torch.Tensor:
    return torch.randn(INPUT_SHAPES[family])


def randomize(modules) -> None:
    """Give every parameter of ``modules`` fresh random non-zero values."""
    with torch.no_grad():
        for module in modules:
            for param in module.parameters():
                param.copy_(torch.randn_like(param) * 0.2 + 0.05)


def outputs(model, x) -> list:
    """The backbone outputs (a sequence of tensors) in eval mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return list(model(x))


def max_relative_error(reference: list, other: list) -> float:
    assert len(reference) == len(other)
    return max(((a - b).norm() / a.norm()).item() for a, b in zip(reference, other))
