"""The plain ViT families: mmpretrain's ``VisionTransformer`` (DeiT archs included) and mmseg's (SETR).

Units are the encoder layers (``layers.i``). Both forwards apply the final norm at
``i == len(self.layers) - 1``, so it moves to the new last layer by itself; what needs care are the
outputs: ``out_indices`` are positions into ``layers`` and are remapped onto the kept layers.

Adapters: a block computes ``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``; a RepAdapter adapts the
attention's and the FFN's input and folds into their first projection (mmpretrain's ``attn.qkv``,
mmseg's ``nn.MultiheadAttention.in_proj`` — with key and value unset, q, k and v all read the adapted
query — and mmcv's ``ffn.layers.0.0`` = fc1). A Convpass runs beside ``attn`` and ``ffn`` on the patch
grid that ``patch_embed`` returns.

Features: the layer output is ``(B, extra + H*W, C)`` before the final norm. One vector per image is
the cls token (the mean of the patch tokens without one); the token grid is the patch tokens on the
``(H, W)`` grid of ``patch_embed``.
"""
import copy
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from mmsls.loaded_classes import is_instance_of
from .base import AdapterSite, BackboneFamily, FeatureView, PatchGrid, PrunableUnit
from .merging import (LinearSites, MergedBlock, MergedLinearBlock, bn_affine, channel_scale,
                      pointwise_matrix)
from .registry import register_family

#: mmcv's FFN, shared by the transformer families: ``layers[0] = Sequential(fc1, act, dropout)``.
MMCV_FFN_SITE = AdapterSite(input='ffn', projection='ffn.layers.0.0', branch='ffn',
                            drop_path='ffn.dropout_layer')


def remap_out_indices(out_indices: Sequence[int], num_before: int, num_after: int) -> Sequence[int]:
    """Move output positions of a stack of ``num_before`` layers onto a stack of ``num_after``.

    Each output keeps its relative depth: position ``i`` maps to
    ``clamp(round((i + 1) * num_after / num_before) - 1, 0, num_after - 1)`` (round half up), so the last
    layer maps to the new last layer. Outputs then stay strictly increasing: a forward pass bumps an
    output that collides with the one before it, a backward pass pulls outputs below their successor
    and below ``num_after``. The number of outputs never changes, so heads that index the outputs tuple
    (mmseg's ``in_index``) keep working.

    Args:
        out_indices (Sequence[int]): Strictly increasing positions in ``0..num_before - 1``.
        num_before (int): The number of layers before pruning.
        num_after (int): The number of layers kept.

    Returns:
        Sequence[int]: The new positions, of the same type as ``out_indices`` (list or tuple).
    """
    indices = list(out_indices)
    if any(not 0 <= index < num_before for index in indices):
        raise ValueError(f'out_indices {out_indices!r} must name layers 0..{num_before - 1} of the '
                         f'{num_before} present; fix the backbone config')
    if any(later <= earlier for earlier, later in zip(indices, indices[1:])):
        raise ValueError(f'out_indices {out_indices!r} must be strictly increasing to be remapped onto '
                         'the kept layers; list each output layer once, in order')
    if num_after < len(indices):
        raise ValueError(f'keeping {num_after} layers cannot serve the {len(indices)} outputs '
                         f'out_indices={out_indices!r}: two outputs would read one layer and the '
                         f'outputs tuple would shrink. Keep at least {len(indices)} layers')
    # (2 * a + b) // (2 * b) is round(a / b) with halves rounded up, in exact integer arithmetic.
    remapped = [(2 * (index + 1) * num_after + num_before) // (2 * num_before) - 1 for index in indices]
    remapped = [min(max(index, 0), num_after - 1) for index in remapped]
    for i in range(1, len(remapped)):
        remapped[i] = max(remapped[i], remapped[i - 1] + 1)
    remapped[-1] = min(remapped[-1], num_after - 1)
    for i in range(len(remapped) - 2, -1, -1):
        remapped[i] = min(remapped[i], remapped[i + 1] - 1)
    return type(out_indices)(remapped)


class ViTTokensView(FeatureView):
    """A plain ViT: ``num_extra_tokens`` leading tokens (cls, distillation), then the patch tokens.

    Args:
        backbone (nn.Module): An mmpretrain or mmseg ``VisionTransformer``.
        num_extra_tokens (int): How many non-patch tokens lead the sequence in the layers.
    """

    def __init__(self, backbone: nn.Module, num_extra_tokens: int, family: BackboneFamily):
        super().__init__(backbone)
        self.num_extra_tokens = num_extra_tokens
        self.family = family
        self.grid = PatchGrid()

    def register_context_hooks(self):
        return self.family.record_grid(self.backbone, self.grid)

    def image_vector(self, unit, args, kwargs, output):
        if self.num_extra_tokens:
            return output[:, 0]
        return output.mean(dim=1)

    def token_grid(self, unit, args, kwargs, output):
        tokens = output[:, self.num_extra_tokens:]
        batch, _, channels = tokens.shape
        return tokens.transpose(1, 2).reshape(batch, channels, *self.grid.hw_shape)


class _VisionTransformerFamily(BackboneFamily):
    """Shared part of both ViT families: one block list, ``layers``, and remapped ``out_indices``."""

    grid_source = 'patch_embed'

    def containers(self, backbone: nn.Module) -> List[str]:
        return ['layers']

    def attributes_after(self, backbone: nn.Module, kept: List[PrunableUnit]) -> Dict[str, object]:
        return dict(out_indices=remap_out_indices(backbone.out_indices, len(backbone.layers), len(kept)))

    def num_extra_tokens(self, backbone: nn.Module) -> int:
        raise NotImplementedError

    def feature_view(self, backbone: nn.Module) -> FeatureView:
        return ViTTokensView(backbone, self.num_extra_tokens(backbone), self)


@register_family
class MMPretrainViTFamily(_VisionTransformerFamily):
    """mmpretrain ``VisionTransformer`` (and subclasses such as DeiT): also updates ``num_layers``."""

    name = 'mmpretrain VisionTransformer'
    module = 'mmpretrain.models.backbones.vision_transformer'
    backbone_class = 'VisionTransformer'
    # attn is mmpretrain's MultiheadAttention: Linear qkv, DropPath out_drop.
    adapter_sites = dict(
        adapter_attn=AdapterSite(input='attn', projection='attn.qkv', branch='attn',
                                 drop_path='attn.out_drop'),
        adapter_mlp=MMCV_FFN_SITE)

    def attributes_after(self, backbone: nn.Module, kept: List[PrunableUnit]) -> Dict[str, object]:
        return dict(super().attributes_after(backbone, kept), num_layers=len(kept))

    def num_extra_tokens(self, backbone: nn.Module) -> int:
        return backbone.num_extra_tokens

    # UPDP (ours: the paper does not publish its ViT block's linear form). The attention branch fades
    # out and the MLP is linearised (ln2 -> BatchNorm, GELU -> identity), so at blend 1 the block is
    # x + g2 * fc2(fc1(BN(x))): one Linear(C, C) with the residual in its weight.
    def merge_blocker(self, block: nn.Module) -> Optional[str]:
        reason = super().merge_blocker(block)
        if reason:
            return reason
        adapters = [name for name, _ in block.named_children() if name.startswith('adapter_')]
        if adapters:
            return (f'has adapters attached ({", ".join(adapters)}); merge them into the block first '
                    '(mmsls.adapters, tools/merge_adapters.py)')
        ffn = getattr(block, 'ffn', None)
        if not is_instance_of(ffn, 'mmcv.cnn.bricks.transformer', 'FFN') or not ffn.add_identity:
            return ("has no mmcv FFN with a residual (ffn_type='origin'); its MLP has no linear form "
                    'here')
        return None

    def linear_sites(self, block: nn.Module) -> LinearSites:
        activations = tuple(f'ffn.layers.{index}.1' for index, layer in enumerate(block.ffn.layers)
                            if isinstance(layer, nn.Sequential))
        return LinearSites(activations=activations, norms=('ln2', ), branches=('attn', ))

    def merged_block(self, block: nn.Module) -> MergedBlock:
        channels = block.embed_dims
        scale, shift = bn_affine(block.ln2)
        weight, bias = torch.diag(scale), shift
        for layer in block.ffn.layers.modules():
            if isinstance(layer, nn.Linear):
                layer_weight, layer_bias = pointwise_matrix(layer)
                weight, bias = layer_weight @ weight, layer_weight @ bias + layer_bias
        gamma = channel_scale(block.ffn.gamma2, channels).to(weight.device)
        weight, bias = gamma[:, None] * weight, gamma * bias
        weight = weight + torch.eye(channels, dtype=weight.dtype, device=weight.device)
        reference = block.ffn.layers[0][0].weight
        merged = MergedLinearBlock(channels).to(device=reference.device, dtype=reference.dtype)
        return merged.load_weights({'linear.weight': weight, 'linear.bias': bias})

    def plain_backbone_config(self, backbone_cfg: dict, backbone: nn.Module) -> dict:
        """``arch`` with the kept ``num_layers`` (an arch name becomes its settings), the remapped
        ``out_indices``, per-layer ``layer_cfgs`` of the kept layers, and ``frozen_stages`` counting
        the kept layers among those it froze."""
        kept = self.kept_indices(backbone)['layers']
        cfg = copy.deepcopy(dict(backbone_cfg))
        cfg['arch'] = dict(backbone.arch_settings, num_layers=len(kept))
        cfg['out_indices'] = list(backbone.out_indices)
        if isinstance(cfg.get('layer_cfgs'), (list, tuple)):
            cfg['layer_cfgs'] = [cfg['layer_cfgs'][index] for index in kept]
        if cfg.get('frozen_stages', -1) > 0:
            cfg['frozen_stages'] = sum(index < cfg['frozen_stages'] for index in kept)
        return cfg


@register_family
class MMSegViTFamily(_VisionTransformerFamily):
    """mmseg ``VisionTransformer`` (the SETR backbone); it keeps no layer count besides ``layers``."""

    name = 'mmseg VisionTransformer'
    module = 'mmseg.models.backbones.vit'
    backbone_class = 'VisionTransformer'
    # attn(norm1(x), identity=x) is mmcv's MultiheadAttention around nn.MultiheadAttention.
    adapter_sites = dict(
        adapter_attn=AdapterSite(input='attn', projection='attn.attn', weight='in_proj_weight',
                                 bias='in_proj_bias', branch='attn', drop_path='attn.dropout_layer'),
        adapter_mlp=MMCV_FFN_SITE)

    def num_extra_tokens(self, backbone: nn.Module) -> int:
        return int(backbone.with_cls_token)

    def plain_backbone_config(self, backbone_cfg: dict, backbone: nn.Module) -> dict:
        """The kept ``num_layers`` and the remapped ``out_indices``."""
        cfg = copy.deepcopy(dict(backbone_cfg))
        cfg['num_layers'] = len(backbone.layers)
        cfg['out_indices'] = list(backbone.out_indices)
        return cfg
