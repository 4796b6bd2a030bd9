"""What a prunable unit's output means as features, per depth family ("feature views").

The SLS analysis hooks every unit of :func:`mmsls.depth.prunable_units` and never branches on the
backbone type; what differs between families lives here, in one view class per family, looked up by
the depth family objects of :mod:`mmsls.depth`:

- ViT (mmpretrain and mmseg): the unit output is ``(B, extra + H*W, C)`` before the final norm (both
  backbones apply it outside the layers). One vector per image is the cls token, ``output[:, 0]``
  (the mean of the patch tokens for a ViT without cls token); the token grid is the patch tokens on
  the ``(H, W)`` grid that ``patch_embed`` returns.
- mmdet and mmpretrain Swin: the unit is a block called as ``block(x, hw_shape)`` with output
  ``(B, H*W, C)``. One vector per image is the average-pooled tokens; for the last block of a
  stage that ends in a patch merging layer, the pooled tokens after that layer (what the next stage
  reads), as the issue specifies. (The public SLS code applies the stage's patch merging to every block of such a stage;
  we keep the merging where the network itself applies it.) The token grid is the block output on
  ``hw_shape``.
- CNNs (mmpretrain ResNet, ConvNeXt, MobileNetV2): the unit output is a feature map ``(B, C, H, W)``;
  one vector per image is its global average, the token grid is the map itself.
"""
from typing import Callable, Dict, List, Tuple, Type

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from mmsls.depth import DepthFamily, PrunableUnit
from mmsls.depth.families.cnn import (MMPretrainConvNeXtFamily, MMPretrainMobileNetV2Family,
                             MMPretrainResNetFamily)
from mmsls.depth.families.swin import MMDetSwinFamily, MMPretrainSwinFamily
from mmsls.depth.families.vit import MMPretrainViTFamily, MMSegViTFamily


class FeatureView:
    """How the outputs of one backbone's units become features.

    A view is made for one backbone and one capture; hooks call it with what a forward hook
    registered with ``with_kwargs=True`` receives: the unit, its positional and keyword inputs and
    its output.

    Args:
        backbone (nn.Module): The backbone whose units are read.
    """

    def __init__(self, backbone: nn.Module):
        self.backbone = backbone

    def register_context_hooks(self) -> List[RemovableHandle]:
        """Hooks recording what the view needs besides unit outputs (e.g. the patch grid)."""
        return []

    def image_vector(self, unit: PrunableUnit, args: tuple, kwargs: dict,
                     output: torch.Tensor) -> torch.Tensor:
        """One feature vector per image, ``(B, C)``."""
        raise NotImplementedError

    def token_grid(self, unit: PrunableUnit, args: tuple, kwargs: dict,
                   output: torch.Tensor) -> torch.Tensor:
        """The unit's tokens on their spatial grid, ``(B, C, H, W)``."""
        raise NotImplementedError


class ViTTokensView(FeatureView):
    """A plain ViT: ``num_extra_tokens`` leading tokens (cls, distillation), then the patch tokens.

    Args:
        backbone (nn.Module): An mmpretrain or mmseg ``VisionTransformer``.
        num_extra_tokens (int): How many non-patch tokens lead the sequence in the layers.
    """

    def __init__(self, backbone: nn.Module, num_extra_tokens: int):
        super().__init__(backbone)
        self.num_extra_tokens = num_extra_tokens
        self._grid = None

    def register_context_hooks(self) -> List[RemovableHandle]:
        return [self.backbone.patch_embed.register_forward_hook(self._record_grid)]

    def _record_grid(self, module: nn.Module, args: tuple, output: tuple) -> None:
        # Both libraries' patch embeddings return (tokens, (H, W)).
        self._grid = tuple(output[1])

    def image_vector(self, unit, args, kwargs, output):
        if self.num_extra_tokens:
            return output[:, 0]
        return output.mean(dim=1)

    def token_grid(self, unit, args, kwargs, output):
        if self._grid is None:
            raise RuntimeError(f'{unit.name} ran before the patch embedding: run the whole '
                               'backbone to capture its features')
        tokens = output[:, self.num_extra_tokens:]
        batch, _, channels = tokens.shape
        return tokens.transpose(1, 2).reshape(batch, channels, *self._grid)


class SwinBlocksView(FeatureView):
    """mmdet's and mmpretrain's ``SwinTransformer``: blocks called as ``block(x, hw_shape)``, stages
    ending in an optional ``downsample`` (patch merging)."""

    @staticmethod
    def _hw_shape(args: tuple, kwargs: dict) -> Tuple[int, int]:
        return tuple(args[1] if len(args) > 1 else kwargs['hw_shape'])

    def image_vector(self, unit, args, kwargs, output):
        hw_shape = self._hw_shape(args, kwargs)
        stage = self.backbone.get_submodule(unit.container.rpartition('.')[0])
        last_block = list(stage.blocks)[-1]
        if stage.downsample is not None and unit.module is last_block:
            output, _ = stage.downsample(output, hw_shape)
        return output.mean(dim=1)

    def token_grid(self, unit, args, kwargs, output):
        batch, _, channels = output.shape
        return output.transpose(1, 2).reshape(batch, channels, *self._hw_shape(args, kwargs))


class FeatureMapView(FeatureView):
    """A CNN whose blocks output feature maps ``(B, C, H, W)``."""

    def image_vector(self, unit, args, kwargs, output):
        return output.mean(dim=(2, 3))

    def token_grid(self, unit, args, kwargs, output):
        return output


#: The view of each depth family: a function of the backbone returning its view.
FEATURE_VIEWS: Dict[Type[DepthFamily], Callable[[nn.Module], FeatureView]] = {
    MMPretrainViTFamily: lambda backbone: ViTTokensView(backbone, backbone.num_extra_tokens),
    MMSegViTFamily: lambda backbone: ViTTokensView(backbone, int(backbone.with_cls_token)),
    MMDetSwinFamily: SwinBlocksView,
    MMPretrainSwinFamily: SwinBlocksView,
    MMPretrainResNetFamily: FeatureMapView,
    MMPretrainConvNeXtFamily: FeatureMapView,
    MMPretrainMobileNetV2Family: FeatureMapView,
}


def feature_view(family: DepthFamily, backbone: nn.Module) -> FeatureView:
    """The feature view of ``backbone``, a backbone of ``family``.

    Args:
        family (DepthFamily): The depth family, as :func:`mmsls.depth.find_backbone` returns it.
        backbone (nn.Module): The backbone it matched.

    Returns:
        FeatureView: A view for one capture.
    """
    for family_type in type(family).__mro__:
        if family_type in FEATURE_VIEWS:
            return FEATURE_VIEWS[family_type](backbone)
    supported = ', '.join(cls.__name__ for cls in FEATURE_VIEWS)
    raise TypeError(f'no SLS feature view for the depth family {family.name!r} (views exist for '
                    f'{supported}); add one to mmsls.analysis.views.FEATURE_VIEWS')

