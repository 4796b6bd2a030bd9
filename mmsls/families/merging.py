"""Block-level pieces of UPDP's linearisation and merging, shared by the family files.

A block's *linear form* (UPDP) is the block with every activation replaced by the identity and every
norm that cannot be folded (LayerNorm, GroupNorm) replaced by a BatchNorm. During the progressive
fade both are blended: ``act_l(x) = (1 - l) act(x) + l x`` (:class:`BlendedActivation`) and
``norm_l(x) = (1 - l) norm(x) + l BN(x)`` (:class:`BlendedNorm`); a branch that disappears from the
linear form (a ViT block's attention) is scaled by ``1 - l`` (:class:`BranchScale`). At ``l = 1`` the
block is affine, and its family folds it into a *merged block* (:class:`MergedBlock` subclasses),
which has the same outputs in eval mode and fewer layers.

A family declares where these sites are in its blocks (:class:`LinearSites`) and how its linear form
folds (``BackboneFamily.merged_block``); the model-level mechanism (which units, the context manager,
calibration, the structure record) is :mod:`mmsls.depth.linearize`.
"""
import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple, Type

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmsls.loaded_classes import is_instance_of


@dataclass(frozen=True)
class LinearSites:
    """Where a block's linear form differs from the block, as dotted paths inside the block.

    Attributes:
        activations: Activation modules, replaced by :class:`BlendedActivation`.
        norms: LayerNorm/GroupNorm modules, replaced by :class:`BlendedNorm` (a BatchNorm stand-in).
        branches: Submodules whose output is scaled by ``1 - blend`` (:class:`BranchScale`); gone from
            the linear form.
    """
    activations: Tuple[str, ...] = ()
    norms: Tuple[str, ...] = ()
    branches: Tuple[str, ...] = ()


# -- Blends -----------------------------------------------------------------------------------------

class BlendedActivation(nn.Module):
    """``(1 - blend) * act(x) + blend * x``: the activation at 0, the identity at 1.

    Holds the activation as a child (activations have no state, so state-dict keys do not change).
    An in-place activation gets a copy of ``x``, which the blend still needs.
    """

    def __init__(self, act: nn.Module, blend: float = 0.0):
        super().__init__()
        self.act = act
        self.blend = float(blend)

    def forward(self, x):
        if self.blend == 1:
            return x
        y = self.act(x.clone() if getattr(self.act, 'inplace', False) else x)
        if self.blend == 0:
            return y
        return (1 - self.blend) * y + self.blend * x

    def extra_repr(self) -> str:
        return f'blend={self.blend:.4f}'


class BlendedNorm(nn.Module):
    """``(1 - blend) * norm(x) + blend * bn(x)``: the norm at 0, its BatchNorm stand-in at 1.

    The norm's own parameters are registered here under their own names (``weight``, ``bias``), so
    the state-dict keys of the norm do not change; the stand-in adds ``bn.*``. The stand-in is a
    ``BatchNorm1d`` over the norm's channel dimension (the last one for ``nn.LayerNorm`` and
    channel-last ``LayerNorm2d`` calls, dimension 1 for ``GroupNorm`` and channel-first calls). Its
    affine starts as the norm's and its statistics as the identity (mean 0, variance 1) until
    calibrated (:func:`mmsls.depth.linearize.calibrate_linearized`) or trained.

    Args:
        norm (nn.Module): An ``nn.LayerNorm`` over one dimension, mmpretrain's ``LayerNorm2d`` or an
            ``nn.GroupNorm``.
        blend (float): The initial blend. Defaults to 0.
    """

    def __init__(self, norm: nn.Module, blend: float = 0.0):
        super().__init__()
        channels = norm_channels(norm)
        # The norm itself is not a child (its keys would move under ``norm.``): its parameters are.
        self.__dict__['norm'] = norm
        for name, param in norm.named_parameters(recurse=False):
            self.register_parameter(name, param)
        self.bn = nn.BatchNorm1d(channels, eps=norm.eps)
        with torch.no_grad():
            if getattr(norm, 'weight', None) is not None:
                self.bn.weight.copy_(norm.weight.reshape(-1))
            if getattr(norm, 'bias', None) is not None:
                self.bn.bias.copy_(norm.bias.reshape(-1))
        self.bn.to(device=norm_device(norm))
        self.blend = float(blend)
        #: While True the stand-in runs (and, in train mode, updates its statistics) at any blend.
        self.calibrating = False

    def forward(self, x, *args, **kwargs):
        if self.blend == 0 and not self.calibrating:
            return self.norm(x, *args, **kwargs)
        standin = self.standin(x, self.channel_dim(x, *args, **kwargs))
        if self.blend == 1:
            return standin
        return (1 - self.blend) * self.norm(x, *args, **kwargs) + self.blend * standin

    def channel_dim(self, x, *args, **kwargs) -> int:
        if isinstance(self.norm, nn.GroupNorm):
            return 1
        if is_instance_of(self.norm, 'mmpretrain.models.utils.norm', 'LayerNorm2d'):
            data_format = args[0] if args else kwargs.get('data_format', 'channel_first')
            return 1 if data_format == 'channel_first' else x.dim() - 1
        return x.dim() - 1

    def standin(self, x: torch.Tensor, channel_dim: int) -> torch.Tensor:
        """The BatchNorm stand-in over ``channel_dim`` of ``x``."""
        moved = x.movedim(channel_dim, -1)
        out = self.bn(moved.reshape(-1, moved.shape[-1])).reshape(moved.shape)
        return out.movedim(-1, channel_dim)

    def extra_repr(self) -> str:
        return f'{type(self.norm).__name__} -> BatchNorm, blend={self.blend:.4f}'


class BranchScale:
    """Forward hook scaling a branch's output by ``1 - blend`` (the ViT attention during the fade).

    A module-level class holding plain values, so ``deepcopy`` and pickling keep it.
    """

    def __init__(self, blend: float = 0.0):
        self.blend = float(blend)

    def __call__(self, module, args, output):
        if self.blend == 0:
            return None
        return output * (1 - self.blend)


def norm_channels(norm: nn.Module) -> int:
    """The channel count of a norm that can stand in as a BatchNorm, or a clear error."""
    if isinstance(norm, nn.GroupNorm):
        return norm.num_channels
    if isinstance(norm, nn.LayerNorm) and len(norm.normalized_shape) == 1:
        return norm.normalized_shape[0]
    raise TypeError(f'{type(norm).__name__} has no BatchNorm stand-in: the linear form replaces '
                    'nn.LayerNorm over one dimension (and LayerNorm2d) and nn.GroupNorm')


def norm_device(norm: nn.Module) -> torch.device:
    param = next(norm.parameters(), None)
    return param.device if param is not None else torch.device('cpu')


# -- Folding ----------------------------------------------------------------------------------------
# Every fold runs in float64 and casts once at the end, so the merged block matches its linear form
# to float32 rounding.

def bn_affine(bn: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``bn(x) == scale * x + shift`` per channel in eval mode (float64).

    Args:
        bn (nn.Module): A BatchNorm with running statistics, or a :class:`BlendedNorm` (its stand-in).
    """
    if isinstance(bn, BlendedNorm):
        bn = bn.bn
    if not isinstance(bn, _BatchNorm) or bn.running_var is None:
        raise TypeError(f'cannot fold {type(bn).__name__}: only a BatchNorm with running statistics '
                        '(track_running_stats=True) is affine in eval mode')
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    return scale, shift


def fold_conv_bn(conv: nn.Conv2d, bn: Optional[nn.Module]) -> Tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias (float64) of ``bn(conv(x))`` as one convolution."""
    weight = conv.weight.double()
    bias = conv.bias.double() if conv.bias is not None else weight.new_zeros(weight.shape[0])
    if bn is None:
        return weight, bias
    scale, shift = bn_affine(bn)
    return weight * scale.reshape(-1, 1, 1, 1), bias * scale + shift


def pointwise_matrix(layer: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(W, b)`` (float64) of a ``Linear`` or a 1x1 ``Conv2d`` (stride 1, one group) as a matrix."""
    if isinstance(layer, nn.Conv2d):
        if layer.kernel_size != (1, 1) or layer.stride != (1, 1) or layer.groups != 1:
            raise TypeError(f'expected a dense 1x1 convolution with stride 1, got {layer}')
        weight = layer.weight.double().flatten(1)
    elif isinstance(layer, nn.Linear):
        weight = layer.weight.double()
    else:
        raise TypeError(f'expected a Linear or a 1x1 Conv2d, got {type(layer).__name__}')
    bias = layer.bias.double() if layer.bias is not None else weight.new_zeros(weight.shape[0])
    return weight, bias


def channel_scale(module: nn.Module, channels: int) -> torch.Tensor:
    """The per-channel factor (float64) of a layer-scale module (``nn.Identity``: ones)."""
    params = list(module.parameters())
    if not params:
        return torch.ones(channels, dtype=torch.float64)
    if len(params) != 1 or params[0].numel() != channels:
        raise TypeError(f'{type(module).__name__} is not a per-channel layer scale over {channels} '
                        'channels')
    return params[0].detach().double().reshape(-1)


# -- Merged blocks ----------------------------------------------------------------------------------

#: Merged block classes by name, to rebuild them from the structure record before weights load.
MERGED_BLOCKS: Dict[str, Type['MergedBlock']] = {}


def register_merged_block(cls):
    MERGED_BLOCKS[cls.__name__] = cls
    return cls


def build_merged_block(spec: dict) -> 'MergedBlock':
    """A merged block (with placeholder weights) from its :meth:`MergedBlock.spec`."""
    if not isinstance(spec, dict) or spec.get('type') not in MERGED_BLOCKS:
        raise ValueError(f'a merged block spec is a dict whose "type" is one of '
                         f'{sorted(MERGED_BLOCKS)}, got {spec!r}')
    kwargs = {key: value for key, value in spec.items() if key != 'type'}
    try:
        return MERGED_BLOCKS[spec['type']](**kwargs)
    except TypeError as error:
        raise ValueError(f'merged block spec {spec!r} does not build: {error}') from None


class MergedBlock(nn.Module):
    """A block folded from its linear form. :meth:`spec` rebuilds it (weights load afterwards)."""

    in_channels: int
    out_channels: int
    stride: int = 1

    def spec(self) -> dict:
        raise NotImplementedError

    def removal_blocker(self) -> Optional[str]:
        """Why removing this block would change feature shapes, or None."""
        if self.stride != 1 or self.in_channels != self.out_channels:
            return (f'is a merged block with stride {self.stride}, {self.in_channels} -> '
                    f'{self.out_channels} channels')
        return None

    def load_weights(self, tensors: Dict[str, torch.Tensor]) -> 'MergedBlock':
        """Copy float64 folded tensors into the parameters (cast to their dtype and device)."""
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in tensors.items():
                params[name].copy_(value.to(params[name].dtype))
        return self


@register_merged_block
class MergedLinearBlock(MergedBlock):
    """A whole token block as one ``Linear(C, C)`` (a ViT block with attention faded out, MLP
    linearised; the residual is in the weight)."""

    def __init__(self, channels: int):
        super().__init__()
        self.in_channels = self.out_channels = channels
        self.linear = nn.Linear(channels, channels)

    def spec(self) -> dict:
        return dict(type=type(self).__name__, channels=self.in_channels)

    def forward(self, x):
        return self.linear(x)


@register_merged_block
class MergedDWBlock(MergedBlock):
    """``x + pw(dw(x))``: a depth-wise ``k x k`` conv then one 1x1 conv ``C -> C``, plus the
    residual (a ConvNeXt block with its norm folded into ``dw`` and both point-wise layers and the
    layer scale into ``pw``)."""

    def __init__(self, channels: int, kernel_size: int, padding: int):
        super().__init__()
        self.in_channels = self.out_channels = channels
        self.dw = nn.Conv2d(channels, channels, kernel_size, padding=padding, groups=channels)
        self.pw = nn.Conv2d(channels, channels, 1)

    def spec(self) -> dict:
        return dict(type=type(self).__name__, channels=self.in_channels,
                    kernel_size=self.dw.kernel_size[0], padding=self.dw.padding[0])

    def forward(self, x):
        return x + self.pw(self.dw(x))


@register_merged_block
class MergedConvBlock(MergedBlock):
    """One dense ``k x k`` conv ``Cin -> Cout`` with the block's stride (residual in the centre tap).

    With ``border=True`` it adds what the zero padding of an inner depth-wise conv does to the bias
    of the layer before it: that bias is zero outside the feature map, so near the borders its
    contribution differs from the interior. The term is a conv of a map of ones (one input channel,
    ``border_kernel``), input-independent and ``Cin`` times cheaper than the main conv; with it the
    merged block is exact at the borders too.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 padding: int, border: bool = False):
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)
        if border:
            self.border_kernel = nn.Parameter(torch.zeros(out_channels, 1, kernel_size, kernel_size))
        else:
            self.register_parameter('border_kernel', None)

    def spec(self) -> dict:
        return dict(type=type(self).__name__, in_channels=self.in_channels,
                    out_channels=self.out_channels, kernel_size=self.conv.kernel_size[0],
                    stride=self.stride, padding=self.conv.padding[0],
                    border=self.border_kernel is not None)

    def forward(self, x):
        out = self.conv(x)
        if self.border_kernel is not None:
            ones = x.new_ones(1, 1, *x.shape[2:])
            out = out + F.conv2d(ones, self.border_kernel, stride=self.conv.stride,
                                 padding=self.conv.padding)
        return out


def conv_spec(conv: nn.Conv2d) -> dict:
    """Constructor arguments of a plain ``Conv2d`` (with bias), JSON-safe."""
    return dict(in_channels=conv.in_channels, out_channels=conv.out_channels,
                kernel_size=list(conv.kernel_size), stride=list(conv.stride),
                padding=list(conv.padding), dilation=list(conv.dilation), groups=conv.groups)


@register_merged_block
class MergedChainBlock(MergedBlock):
    """``body(x) + shortcut(x)`` with every norm folded and no activation: a chain of convs, and an
    identity or a (pooled) 1x1 conv as the shortcut (ResNet blocks).

    Args:
        body (Sequence[dict]): :func:`conv_spec` of each conv of the body, in order.
        shortcut (dict, optional): ``conv`` (a :func:`conv_spec`) and optionally ``pool`` (AvgPool2d
            arguments) of the shortcut; None for the identity.
    """

    def __init__(self, body: Sequence[dict], shortcut: Optional[dict] = None):
        super().__init__()
        self._body_spec = [dict(spec) for spec in body]
        self._shortcut_spec = None if shortcut is None else dict(shortcut)
        self.body = nn.Sequential(*[nn.Conv2d(**spec) for spec in self._body_spec])
        self.in_channels = self._body_spec[0]['in_channels']
        self.out_channels = self._body_spec[-1]['out_channels']
        self.stride = math.prod(spec['stride'][0] if isinstance(spec['stride'], (list, tuple))
                                else spec['stride'] for spec in self._body_spec)
        if shortcut is None:
            self.shortcut = nn.Identity()
        else:
            layers = [nn.AvgPool2d(**shortcut['pool'])] if shortcut.get('pool') else []
            self.shortcut = nn.Sequential(*layers, nn.Conv2d(**shortcut['conv']))

    def spec(self) -> dict:
        return dict(type=type(self).__name__, body=self._body_spec, shortcut=self._shortcut_spec)

    def forward(self, x):
        return self.body(x) + self.shortcut(x)
