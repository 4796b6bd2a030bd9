"""The two kinds of adapter, and how each acts on a block and merges away (as peft's tuner layers own
their merge).

Adapters are child modules of the block they belong to (``block.adapter_attn``, ``block.adapter_mlp``)
and act through PyTorch forward hooks on submodules that the block's family names
(:class:`mmsls.families.AdapterSite`); no ``forward`` is replaced. The hooks are instances of
module-level classes that hold the adapter, so ``copy.deepcopy`` and pickling keep each hook bound to
the copied adapter.

- A :class:`SequentialAdapter` (RepAdapter) is a forward pre-hook that replaces the first positional
  input of ``site.input`` by ``adapter(input)``. Keyword inputs such as FFN's ``identity`` (the
  residual) are left alone, so the block computes ``x + attn(adapter(norm1(x)))``. Being affine in
  eval mode, it folds into ``site.projection``.
- A :class:`ParallelAdapter` (Convpass) is a forward hook that adds ``drop_path(adapter(input, grid))``
  to the output of ``site.branch``. Where that output already includes the residual (mmcv's FFN and
  MultiheadAttention add ``identity``), adding the branch is still ``x + f(x) + s * convpass(x)``. It
  is not linear, so it cannot be merged.
"""
import math
import numbers
from typing import Tuple

import torch
from torch import nn

from mmsls.families import AdapterSite, PatchGrid


class Adapter(nn.Module):
    """Base of the adapters mmsls attaches; subclasses define how they act and merge."""

    #: Whether :meth:`attach` needs the patch grid of the forward pass.
    uses_grid: bool = False
    #: Whether :meth:`merge` can fold the adapter into the block's own weights.
    mergeable: bool = False

    def attach(self, block: nn.Module, site: AdapterSite, grid: PatchGrid) -> None:
        """Make the adapter act on ``block`` at ``site`` (registers forward hooks)."""
        raise NotImplementedError

    def merge(self, block: nn.Module, site: AdapterSite) -> None:
        """Fold the adapter into ``block``'s weights at ``site``; the caller then detaches it."""
        raise TypeError(f'{type(self).__name__} is not linear and cannot be folded into the block; '
                        'keep it as a module (merge only RepAdapter models)')


class SequentialAdapterHook:
    """Forward pre-hook: the submodule reads ``adapter(x)`` instead of its first input ``x``."""

    def __init__(self, adapter: nn.Module):
        self.adapter = adapter

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        if not args:
            raise RuntimeError(f'{type(module).__name__} was called without a positional input; '
                               'its adapter adapts the first positional input.')
        return (self.adapter(args[0]), *args[1:])


class ParallelAdapterHook:
    """Forward hook: adds ``drop_path(adapter(x, grid))`` to the submodule's output, ``x`` being the
    submodule's first input."""

    def __init__(self, adapter: nn.Module, grid: PatchGrid, drop_path: nn.Module):
        self.adapter = adapter
        self.grid = grid
        self.drop_path = drop_path

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        return output + self.drop_path(self.adapter(args[0], self.grid.hw_shape))


class SequentialAdapter(Adapter):
    """An adapter applied to a submodule's input; affine in eval mode (see :meth:`affine`)."""

    mergeable = True

    def affine(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(weight, bias)`` with ``adapter(x) == x @ weight.T + bias`` in eval mode."""
        raise NotImplementedError

    def attach(self, block, site, grid):
        block.get_submodule(site.input).register_forward_pre_hook(SequentialAdapterHook(self))

    def merge(self, block, site):
        """``y = W x + b`` after ``x -> W_ad x + b_ad`` becomes ``W' = W W_ad``, ``b' = W b_ad + b``,
        computed in float64."""
        projection = block.get_submodule(site.projection)
        weight, bias = getattr(projection, site.weight), getattr(projection, site.bias)
        if bias is None:
            raise ValueError(
                f'Cannot merge a {type(self).__name__} into {type(projection).__name__}.{site.weight}: '
                f'it has no {site.bias}, which the adapter bias needs. Build the backbone with '
                'qkv_bias=True.')
        with torch.no_grad():
            adapter_weight, adapter_bias = (t.double() for t in self.affine())
            bias.copy_(weight.double() @ adapter_bias + bias.double())
            weight.copy_(weight.double() @ adapter_weight)


class ParallelAdapter(Adapter):
    """An adapter run beside a submodule on the patch grid, its output added to the submodule's."""

    uses_grid = True

    def attach(self, block, site, grid):
        hook = ParallelAdapterHook(self, grid, block.get_submodule(site.drop_path))
        block.get_submodule(site.branch).register_forward_hook(hook)


def checked_scale(scale, adapter: str) -> float:
    """An adapter's ``scale`` as a float, refused at construction unless a finite real number.

    A nan or inf scale trains to ``loss: nan``, and a string fails only at the first forward.
    """
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f'{adapter} scale must be a finite number, got {scale!r} '
                        f'({type(scale).__name__}); e.g. scale=1.0')
    if not math.isfinite(scale):
        raise ValueError(f'{adapter} scale must be a finite number, got {scale}; e.g. scale=1.0')
    return float(scale)
