"""The CNN families of mmpretrain: ResNet (BasicBlock/Bottleneck), ConvNeXt and MobileNetV2.

Units are the blocks of every stage in forward order (``layer2.3``, ``stages.2.4``, ...). Removing a
block passes its input on unchanged, so only a block whose output has the shape of its input can go:
the first block of a ResNet stage (its downsample branch changes stride or channels) and the
MobileNetV2 blocks without a residual connection never can, even with ``allow_empty_stages=True``;
asking for one is an error naming the block and why. As for Swin, the first block of every stage is a
required unit, so that :func:`mmsls.depth.depth_keep` keeps each stage; where that block keeps the
shape (ConvNeXt, the first stage of ResNet-18/34), ``allow_empty_stages=True`` removes it.

The backbones call a stage as a whole (``x = stage(x)``), so a pruned stage is a
:class:`SequentialPrunedLayers`. Stage outputs (``out_indices``) index stages, which all stay.

Adapters are for transformer blocks: CNN families take none (a clear error says so). Features: a block
outputs a feature map ``(B, C, H, W)``; one vector per image is its global average, the token grid is
the map itself.
"""
import copy
from typing import List, Optional

import torch
from torch import nn

from .base import BackboneFamily, FeatureView, PlainConfigError
from .containers import SequentialPrunedLayers
from .merging import (LinearSites, MergedBlock, MergedChainBlock, MergedConvBlock, MergedDWBlock,
                      conv_spec, fold_conv_bn, pointwise_matrix)
from .registry import register_family

_MMPRETRAIN_BACKBONES = 'mmpretrain.models.backbones'


class FeatureMapView(FeatureView):
    """A CNN whose blocks output feature maps ``(B, C, H, W)``."""

    def image_vector(self, unit, args, kwargs, output):
        return output.mean(dim=(2, 3))

    def token_grid(self, unit, args, kwargs, output):
        return output


class _CNNFamily(BackboneFamily):
    """Shared part of the CNN families: stages called as a whole, no adapters, feature maps."""

    required_reason = 'the first block of its stage'
    no_adapters_reason = ('adapters act on transformer blocks (attention and MLP); CNN backbones '
                          'take none')
    pruned_container = SequentialPrunedLayers

    def is_required(self, container: str, position: int) -> bool:
        return position == 0

    def feature_view(self, backbone: nn.Module) -> FeatureView:
        return FeatureMapView(backbone)


@register_family
class MMPretrainResNetFamily(_CNNFamily):
    """mmpretrain ``ResNet`` and its subclasses: the blocks of ``layer1`` .. ``layer4``."""

    name = 'mmpretrain ResNet'
    module = f'{_MMPRETRAIN_BACKBONES}.resnet'
    backbone_class = 'ResNet'

    def containers(self, backbone: nn.Module) -> List[str]:
        return list(backbone.res_layers)

    def removal_blocker(self, block: nn.Module) -> Optional[str]:
        if isinstance(block, MergedBlock):
            return block.removal_blocker()
        if block.downsample is not None or block.stride != 1 \
                or block.in_channels != block.out_channels:
            return (f'has a downsample branch (stride {block.stride}, {block.in_channels} -> '
                    f'{block.out_channels} channels)')
        return None

    def plain_backbone_config(self, backbone_cfg: dict, backbone: nn.Module) -> dict:
        """Refused once pruned: mmpretrain's ResNet takes its stage depths only from ``depth``."""
        if any(isinstance(backbone.get_submodule(path), SequentialPrunedLayers)
               for path in self.containers(backbone)):
            raise PlainConfigError(
                f'{self.name} takes its blocks per stage only from `depth` (one of '
                f'{sorted(backbone.arch_settings)}), so no plain config describes a pruned '
                'ResNet. Keep the mmsls config and its depth record')
        return copy.deepcopy(dict(backbone_cfg))

    # UPDP: every ReLU (the one after the addition too) becomes the identity; the norms are
    # BatchNorms already. The merged block keeps the convs with the norms folded in, and the
    # shortcut: composing them into one conv would cost more (BasicBlock: one 5x5 conv, 25/18 of its
    # two 3x3; Bottleneck: one dense 3x3, about 8.5x) and, for two stacked 3x3 convs, would not
    # reproduce the inner conv's zero padding at the borders.
    def merge_blocker(self, block: nn.Module) -> Optional[str]:
        reason = super().merge_blocker(block)
        if reason:
            return reason
        convs, norms = _resnet_body(block)
        shortcut = list(block.downsample) if block.downsample is not None else []
        for layer in convs + [layer for layer in shortcut if isinstance(layer, nn.Conv2d)]:
            if type(layer) is not nn.Conv2d or layer.padding_mode != 'zeros':
                return f'has a {type(layer).__name__} that is not a plain zero-padded nn.Conv2d'
        if any(not isinstance(layer, (nn.Conv2d, nn.AvgPool2d, nn.modules.batchnorm._BatchNorm))
               for layer in shortcut):
            return 'has a downsample branch with layers other than AvgPool2d, Conv2d and BatchNorm'
        return None

    def linear_sites(self, block: nn.Module) -> LinearSites:
        return LinearSites(activations=('relu', ))

    def merged_block(self, block: nn.Module) -> MergedBlock:
        convs, norms = _resnet_body(block)
        tensors, body = {}, []
        for index, (conv, norm) in enumerate(zip(convs, norms)):
            weight, bias = fold_conv_bn(conv, norm)
            tensors.update({f'body.{index}.weight': weight, f'body.{index}.bias': bias})
            body.append(conv_spec(conv))
        shortcut = None
        if block.downsample is not None:
            layers = list(block.downsample)
            conv = next(layer for layer in layers if isinstance(layer, nn.Conv2d))
            norm = next((layer for layer in layers
                         if isinstance(layer, nn.modules.batchnorm._BatchNorm)), None)
            pool = next((layer for layer in layers if isinstance(layer, nn.AvgPool2d)), None)
            weight, bias = fold_conv_bn(conv, norm)
            key = 'shortcut.1' if pool is not None else 'shortcut.0'
            tensors.update({f'{key}.weight': weight, f'{key}.bias': bias})
            shortcut = dict(conv=conv_spec(conv))
            if pool is not None:
                shortcut['pool'] = dict(kernel_size=pool.kernel_size, stride=pool.stride,
                                        padding=pool.padding, ceil_mode=pool.ceil_mode,
                                        count_include_pad=pool.count_include_pad)
        merged = MergedChainBlock(body, shortcut)
        merged.to(device=convs[0].weight.device, dtype=convs[0].weight.dtype)
        return merged.load_weights(tensors)


def _resnet_body(block: nn.Module):
    """The convs and norms of a BasicBlock (2) or Bottleneck (3), in order."""
    count = 3 if hasattr(block, 'conv3') else 2
    return ([getattr(block, f'conv{index}') for index in range(1, count + 1)],
            [getattr(block, f'norm{index}') for index in range(1, count + 1)])


@register_family
class MMPretrainConvNeXtFamily(_CNNFamily):
    """mmpretrain ``ConvNeXt``: the blocks of every stage; downsampling is outside the stages."""

    name = 'mmpretrain ConvNeXt'
    module = f'{_MMPRETRAIN_BACKBONES}.convnext'
    backbone_class = 'ConvNeXt'

    def containers(self, backbone: nn.Module) -> List[str]:
        return [f'stages.{index}' for index in range(len(backbone.stages))]

    def plain_backbone_config(self, backbone_cfg: dict, backbone: nn.Module) -> dict:
        """``arch`` with the kept ``depths`` per stage (an arch name becomes its channels)."""
        cfg = copy.deepcopy(dict(backbone_cfg))
        depths = [len(kept) for kept in self.kept_indices(backbone).values()]
        cfg['arch'] = dict(depths=depths, channels=list(backbone.channels))
        return cfg

    # UPDP: LN -> BatchNorm (folded into the depth-wise conv), GELU -> identity; both point-wise
    # layers and the layer scale fold into one 1x1 conv C -> C; the residual stays.
    def merge_blocker(self, block: nn.Module) -> Optional[str]:
        reason = super().merge_blocker(block)
        if reason:
            return reason
        if getattr(block, 'grn', None) is not None:
            return 'uses GRN (ConvNeXt V2), which normalises over the whole feature map'
        return None

    def linear_sites(self, block: nn.Module) -> LinearSites:
        return LinearSites(activations=('act', ), norms=('norm', ))

    def merged_block(self, block: nn.Module) -> MergedBlock:
        dw = block.depthwise_conv
        dw_weight, dw_bias = fold_conv_bn(dw, block.norm)
        first, first_bias = pointwise_matrix(block.pointwise_conv1)
        second, second_bias = pointwise_matrix(block.pointwise_conv2)
        weight, bias = second @ first, second @ first_bias + second_bias
        if block.gamma is not None:
            gamma = block.gamma.detach().double()
            weight, bias = gamma[:, None] * weight, gamma * bias
        merged = MergedDWBlock(dw.in_channels, dw.kernel_size[0], dw.padding[0])
        merged.to(device=dw.weight.device, dtype=dw.weight.dtype)
        return merged.load_weights({'dw.weight': dw_weight, 'dw.bias': dw_bias,
                                    'pw.weight': weight[:, :, None, None], 'pw.bias': bias})


@register_family
class MMPretrainMobileNetV2Family(_CNNFamily):
    """mmpretrain ``MobileNetV2``: the inverted residual blocks of ``layer1`` .. ``layer7``."""

    name = 'mmpretrain MobileNetV2'
    module = f'{_MMPRETRAIN_BACKBONES}.mobilenet_v2'
    backbone_class = 'MobileNetV2'

    def containers(self, backbone: nn.Module) -> List[str]:
        # ``layers`` also names the final 1x1 ConvModule ``conv2``, which is not a block list.
        return [name for name in backbone.layers
                if isinstance(getattr(backbone, name), (nn.Sequential, SequentialPrunedLayers))]

    def plain_backbone_config(self, backbone_cfg: dict, backbone: nn.Module) -> dict:
        """Refused once pruned: mmpretrain's MobileNetV2 has fixed blocks per stage."""
        if any(isinstance(backbone.get_submodule(path), SequentialPrunedLayers)
               for path in self.containers(backbone)):
            raise PlainConfigError(
                f'{self.name} has a fixed number of blocks per stage (its arch_settings), so no '
                'plain config describes a pruned MobileNetV2. Keep the mmsls config and its '
                'depth record')
        return copy.deepcopy(dict(backbone_cfg))

    def removal_blocker(self, block: nn.Module) -> Optional[str]:
        if isinstance(block, MergedBlock):
            return block.removal_blocker()
        if not block.use_res_connect:
            in_channels = block.conv[0].conv.in_channels
            out_channels = block.conv[-1].conv.out_channels
            return (f'has no residual connection (stride {block.stride}, {in_channels} -> '
                    f'{out_channels} channels)')
        return None

    # UPDP: ReLU6 -> identity; [1x1 expand] -> depth-wise 3x3 (the block's stride) -> 1x1 project,
    # norms folded, become one dense 3x3 conv Cin -> Cout with that stride, the residual (if any) in
    # its centre tap. This covers the stride-2 and channel-changing blocks that removal refuses.
    def merge_blocker(self, block: nn.Module) -> Optional[str]:
        reason = super().merge_blocker(block)
        if reason:
            return reason
        for module in block.conv:
            if module.order != ('conv', 'norm', 'act') or type(module.conv) is not nn.Conv2d \
                    or module.conv.padding_mode != 'zeros':
                return 'has a ConvModule other than a zero-padded Conv2d -> norm -> act'
        dw = block.conv[-2].conv
        if dw.groups != dw.in_channels or dw.in_channels != dw.out_channels:
            return 'has no depth-wise conv before its projection'
        return None

    def linear_sites(self, block: nn.Module) -> LinearSites:
        return LinearSites(activations=tuple(f'conv.{index}.activate'
                                             for index, module in enumerate(block.conv)
                                             if module.with_activation))

    def merged_block(self, block: nn.Module) -> MergedBlock:
        modules = list(block.conv)
        dw_module, project = modules[-2], modules[-1]
        dw = dw_module.conv
        hidden, kernel = dw.in_channels, dw.kernel_size[0]
        if len(modules) == 3:
            expand, expand_bias = fold_conv_bn(modules[0].conv, _norm(modules[0]))
            expand = expand.flatten(1)
        else:
            expand = torch.eye(hidden, dtype=torch.float64, device=dw.weight.device)
            expand_bias = expand.new_zeros(hidden)
        dw_weight, dw_bias = fold_conv_bn(dw, _norm(dw_module))
        dw_weight = dw_weight.flatten(1)                                       # (hidden, k*k)
        proj, proj_bias = fold_conv_bn(project.conv, _norm(project))
        proj = proj.flatten(1)                                                 # (out, hidden)
        in_channels, out_channels = expand.shape[1], proj.shape[0]
        weight = torch.einsum('oc,ct,ci->oit', proj, dw_weight, expand)
        weight = weight.reshape(out_channels, in_channels, kernel, kernel)
        if block.use_res_connect:
            centre = kernel // 2
            weight[range(out_channels), range(in_channels), centre, centre] += 1
        # The expand bias meets the depth-wise conv's zero padding: a border term (see
        # MergedConvBlock); without an expand layer there is none.
        border = torch.einsum('oc,ct,c->ot', proj, dw_weight, expand_bias)
        has_border = bool(expand_bias.abs().max() > 0)
        merged = MergedConvBlock(in_channels, out_channels, kernel, dw.stride[0], dw.padding[0],
                                 border=has_border)
        merged.to(device=dw.weight.device, dtype=dw.weight.dtype)
        tensors = {'conv.weight': weight, 'conv.bias': proj @ dw_bias + proj_bias}
        if has_border:
            tensors['border_kernel'] = border.reshape(out_channels, 1, kernel, kernel)
        return merged.load_weights(tensors)


def _norm(conv_module: nn.Module):
    """The norm of an mmcv ConvModule, or None."""
    return conv_module.norm if conv_module.with_norm else None
