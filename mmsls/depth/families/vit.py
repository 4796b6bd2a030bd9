"""Depth families of the plain ViTs: mmpretrain's and mmseg's ``VisionTransformer``.

Units are the encoder layers (``layers.i``). Both forwards apply the final norm at
``i == len(self.layers) - 1``, so it moves to the new last layer by itself; what needs care are the
outputs: ``out_indices`` are positions into ``layers`` and must be remapped onto the kept layers.
"""
from typing import Dict, List, Sequence

from torch import nn

from mmsls.loaded_classes import is_instance_of

from ..family import DepthFamily, PrunableUnit, register_depth_family


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


class _VisionTransformerFamily(DepthFamily):
    """Shared part of both ViT families: one block list, ``layers``, and remapped ``out_indices``."""

    def containers(self, backbone: nn.Module) -> List[str]:
        return ['layers']

    def attributes_after(self, backbone: nn.Module, kept: List[PrunableUnit]) -> Dict[str, object]:
        return dict(out_indices=remap_out_indices(backbone.out_indices, len(backbone.layers), len(kept)))


@register_depth_family
class MMPretrainViTFamily(_VisionTransformerFamily):
    """mmpretrain ``VisionTransformer`` (and subclasses such as DeiT): also updates ``num_layers``."""

    name = 'mmpretrain VisionTransformer'

    def matches(self, backbone: nn.Module) -> bool:
        return is_instance_of(backbone, 'mmpretrain.models.backbones.vision_transformer',
                              'VisionTransformer')

    def attributes_after(self, backbone: nn.Module, kept: List[PrunableUnit]) -> Dict[str, object]:
        return dict(super().attributes_after(backbone, kept), num_layers=len(kept))


@register_depth_family
class MMSegViTFamily(_VisionTransformerFamily):
    """mmseg ``VisionTransformer`` (the SETR backbone); it keeps no layer count besides ``layers``."""

    name = 'mmseg VisionTransformer'

    def matches(self, backbone: nn.Module) -> bool:
        return is_instance_of(backbone, 'mmseg.models.backbones.vit', 'VisionTransformer')
