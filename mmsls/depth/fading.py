"""Fading blocks out: blend a block's output towards its input, from the block (0) to removal (1).

A :class:`BlockFade` is a forward hook on the block (no forward is replaced): for block input ``x``
and output ``y``, it returns ``x + (1 - blend) * (y - x)``. For a pre-norm transformer block
(``y = x + f(x)``) and a residual CNN block without an activation after the addition (ConvNeXt,
MobileNetV2) this is UPDP's ``x + (1 - blend) * f(x)``. For ResNet blocks, whose ReLU follows the
addition, it blends the block's output towards the identity instead. Either way it is exact at both
ends: at 0 the output is untouched, at 1 it is ``x`` itself, so the block can then be removed without
changing the model's output.
"""
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator

import torch
from torch import nn

from .api import prunable_units


class BlockFade:
    """Forward hook that blends a block's output towards its input.

    A module-level class holding only plain values, so ``deepcopy`` and pickling of the hooked model
    keep it (a copy gets its own fade with the same blend).

    Args:
        name (str): The unit name of the block, for messages.
        blend (float): 0 leaves the block as it is, 1 turns it into the identity. Defaults to 0.
    """

    def __init__(self, name: str, blend: float = 0.0):
        self.name = name
        self.blend = blend

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict, output):
        if self.blend == 0:
            return None
        # Swin blocks take (x, hw_shape): the features are the first input.
        x = args[0] if args else next(iter(kwargs.values()))
        if not torch.is_tensor(output) or output.shape != x.shape:
            got = tuple(output.shape) if torch.is_tensor(output) else type(output).__name__
            raise ValueError(f'block {self.name} maps an input of shape {tuple(x.shape)} to {got}: '
                             'only a block whose output has the shape of its input can be faded '
                             'out and removed. Choose blocks that keep the shape')
        return x + (1 - self.blend) * (output - x)


class FadedBlocks:
    """Fades attached to some prunable units of a model, with one blend for all of them.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        names (Iterable[str]): Unit names (see :func:`mmsls.depth.prunable_units`) of the blocks to
            fade.
        blend (float): The initial blend. Defaults to 0.
    """

    def __init__(self, model: nn.Module, names: Iterable[str], blend: float = 0.0):
        blocks = named_units(model, names)
        self.fades: Dict[str, BlockFade] = {}
        self._handles = []
        for name, block in blocks.items():
            fade = BlockFade(name, blend)
            self.fades[name] = fade
            self._handles.append(block.register_forward_hook(fade, with_kwargs=True))

    @property
    def names(self):
        """The faded unit names, in forward order."""
        return list(self.fades)

    @property
    def blend(self) -> float:
        """The current blend of every faded block."""
        return next(iter(self.fades.values())).blend

    @blend.setter
    def blend(self, value: float) -> None:
        if not 0 <= value <= 1:
            raise ValueError(f'blend must be in [0, 1] (0: the blocks, 1: the identity), got {value}')
        for fade in self.fades.values():
            fade.blend = float(value)

    def detach(self) -> None:
        """Remove the fades from the blocks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def named_units(model: nn.Module, names: Iterable[str]) -> Dict[str, nn.Module]:
    """The blocks of the units called ``names``, in forward order, or a clear error.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        names (Iterable[str]): Unit names, each listed once.

    Returns:
        dict[str, nn.Module]: Unit name -> block.
    """
    names = list(names)
    if not names:
        raise ValueError('no blocks named: list at least one unit name')
    if len(set(names)) != len(names):
        raise ValueError(f'unit names listed twice in {names}: list each block once')
    units = {unit.name: unit.module for unit in prunable_units(model)}
    unknown = [name for name in names if name not in units]
    if unknown:
        raise ValueError(f'{unknown[0]} is not a prunable unit of this model; its units are '
                         f'{list(units)}')
    return {name: block for name, block in units.items() if name in names}


@contextmanager
def bypassed(model: nn.Module, names: Iterable[str]) -> Iterator[FadedBlocks]:
    """Run ``model`` with the units ``names`` turned into the identity (blend 1), then restore them.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        names (Iterable[str]): Unit names of the blocks to bypass.
    """
    faded = FadedBlocks(model, names, blend=1.0)
    try:
        yield faded
    finally:
        faded.detach()
