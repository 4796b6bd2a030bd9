"""Depth families of mmdet's ``SwinTransformer`` (the RetinaNet Swin-T backbone) and mmpretrain's.

Both hold ``stages.s.blocks`` and end each stage in an optional ``downsample``, and both call a block
as ``block(x, hw_shape)``, so one family describes them; they differ only in the class matched.

Units are the blocks of all stages in forward order (``stages.s.blocks.b``). Every ``PatchMerging``
stays, and a block never changes the token shape, so each stage's output shape is unchanged and the
FPN still fits. The first block of each stage is a required unit: only ``allow_empty_stages=True``
removes it; a stage without blocks passes its input features on, through its patch merging and its
output norm.

Each kept block keeps its own ``shift_size``: its attention weights were trained with that window
shift, and changing it would change what the block computes. So after removing block 1 of a stage, two
non-shifted blocks may follow each other; that is what keeps every kept block's trained behaviour.
"""
from typing import List

from torch import nn

from mmsls.loaded_classes import is_instance_of

from ..family import DepthFamily, register_depth_family


@register_depth_family
class MMDetSwinFamily(DepthFamily):
    """mmdet ``SwinTransformer``: the blocks of every stage; the first block of a stage is required."""

    name = 'mmdet SwinTransformer'
    required_reason = 'the first block of its stage'

    def matches(self, backbone: nn.Module) -> bool:
        return is_instance_of(backbone, 'mmdet.models.backbones.swin', 'SwinTransformer')

    def containers(self, backbone: nn.Module) -> List[str]:
        return [f'stages.{index}.blocks' for index in range(len(backbone.stages))]

    def is_required(self, container: str, position: int) -> bool:
        return position == 0


@register_depth_family
class MMPretrainSwinFamily(MMDetSwinFamily):
    """mmpretrain ``SwinTransformer`` (classification): as :class:`MMDetSwinFamily`."""

    name = 'mmpretrain SwinTransformer'

    def matches(self, backbone: nn.Module) -> bool:
        return is_instance_of(backbone, 'mmpretrain.models.backbones.swin_transformer',
                              'SwinTransformer')
