"""Depth families of mmpretrain's CNNs: ResNet (BasicBlock/Bottleneck), ConvNeXt and MobileNetV2.

Units are the blocks of every stage in forward order (``layer2.3``, ``stages.2.4``, ...). Removing a
block passes its input on unchanged, so only a block whose output has the shape of its input can go:
the first block of a ResNet stage (its downsample branch changes stride or channels) and the
MobileNetV2 blocks without a residual connection never can, even with ``allow_empty_stages=True``;
asking for one is an error naming the block and why. As for Swin, the first block of every stage is a
required unit, so that :func:`mmsls.depth.depth_keep` keeps each stage; where that block keeps the
shape (ConvNeXt, the first stage of ResNet-18/34), ``allow_empty_stages=True`` removes it.

The backbones call a stage as a whole (``x = stage(x)``), so a pruned stage is a
:class:`SequentialPrunedLayers`. Stage outputs (``out_indices``) index stages, which all stay.
"""
from dataclasses import replace
from typing import Iterable, List, Optional

from torch import nn

from mmsls.loaded_classes import is_instance_of

from ..family import DepthFamily, PrunableUnit, register_depth_family
from ..pruned_layers import PrunedLayers

_MMPRETRAIN_BACKBONES = 'mmpretrain.models.backbones'


class SequentialPrunedLayers(PrunedLayers):
    """:class:`PrunedLayers` that is also called like the ``nn.Sequential`` stage it replaces."""

    def forward(self, x):
        for block in self:
            x = block(x)
        return x


class _CNNFamily(DepthFamily):
    """Shared part of the CNN families: shape-changing blocks are never removed."""

    required_reason = 'the first block of its stage'

    def removal_blocker(self, block: nn.Module) -> Optional[str]:
        """Why ``block`` can never be removed, or None when its output has its input's shape."""
        return None

    def is_required(self, container: str, position: int) -> bool:
        return position == 0

    def units(self, backbone: nn.Module) -> List[PrunableUnit]:
        return [replace(unit, required=True) if self.removal_blocker(unit.module) else unit
                for unit in super().units(backbone)]

    def prune(self, backbone: nn.Module, keep: Iterable[int], allow_empty_stages: bool = False) -> None:
        units = self.units(backbone)
        # Checks the form of keep only; required units are checked by DepthFamily.prune below.
        positions = self._checked_keep(units, keep, allow_empty_stages=True)
        kept = set(positions)
        for position, unit in enumerate(units):
            reason = self.removal_blocker(unit.module)
            if position not in kept and reason:
                raise ValueError(f'keep drops {unit.name} (position {position}), which cannot be '
                                 f'removed: it {reason}, so the next block would get features of '
                                 'another shape. Keep it; only blocks whose output has the shape of '
                                 'their input can be removed')
        super().prune(backbone, positions, allow_empty_stages=allow_empty_stages)
        for path in self.containers(backbone):
            stage = backbone.get_submodule(path)
            if type(stage) is PrunedLayers:
                parent, _, attribute = path.rpartition('.')
                setattr(backbone.get_submodule(parent), attribute,
                        SequentialPrunedLayers(stage.named_children(), stage.original_names))


@register_depth_family
class MMPretrainResNetFamily(_CNNFamily):
    """mmpretrain ``ResNet`` and its subclasses: the blocks of ``layer1`` .. ``layer4``."""

    name = 'mmpretrain ResNet'

    def matches(self, backbone: nn.Module) -> bool:
        return is_instance_of(backbone, f'{_MMPRETRAIN_BACKBONES}.resnet', 'ResNet')

    def containers(self, backbone: nn.Module) -> List[str]:
        return list(backbone.res_layers)

    def removal_blocker(self, block: nn.Module) -> Optional[str]:
        if block.downsample is not None or block.stride != 1 \
                or block.in_channels != block.out_channels:
            return (f'has a downsample branch (stride {block.stride}, {block.in_channels} -> '
                    f'{block.out_channels} channels)')
        return None


@register_depth_family
class MMPretrainConvNeXtFamily(_CNNFamily):
    """mmpretrain ``ConvNeXt``: the blocks of every stage; downsampling is outside the stages."""

    name = 'mmpretrain ConvNeXt'

    def matches(self, backbone: nn.Module) -> bool:
        return is_instance_of(backbone, f'{_MMPRETRAIN_BACKBONES}.convnext', 'ConvNeXt')

    def containers(self, backbone: nn.Module) -> List[str]:
        return [f'stages.{index}' for index in range(len(backbone.stages))]


@register_depth_family
class MMPretrainMobileNetV2Family(_CNNFamily):
    """mmpretrain ``MobileNetV2``: the inverted residual blocks of ``layer1`` .. ``layer7``."""

    name = 'mmpretrain MobileNetV2'

    def matches(self, backbone: nn.Module) -> bool:
        return is_instance_of(backbone, f'{_MMPRETRAIN_BACKBONES}.mobilenet_v2', 'MobileNetV2')

    def containers(self, backbone: nn.Module) -> List[str]:
        # ``layers`` also names the final 1x1 ConvModule ``conv2``, which is not a block list.
        return [name for name in backbone.layers
                if isinstance(getattr(backbone, name), (nn.Sequential, PrunedLayers))]

    def removal_blocker(self, block: nn.Module) -> Optional[str]:
        if not block.use_res_connect:
            in_channels = block.conv[0].conv.in_channels
            out_channels = block.conv[-1].conv.out_channels
            return (f'has no residual connection (stride {block.stride}, {in_channels} -> '
                    f'{out_channels} channels)')
        return None

