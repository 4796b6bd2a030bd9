"""The containers that hold the kept blocks of a pruned block list."""
from typing import Iterable, Iterator, Sequence, Tuple

from mmengine.model import BaseModule
from torch import nn


class PrunedLayers(BaseModule):
    """The kept blocks of a pruned ``ModuleList``, under their original indices as names.

    Keeping the original names (``layers.0``, ``layers.5``, ...) makes state-dict keys follow the block,
    not its position: a pruned checkpoint can never load into the wrong block, even non-strictly. The
    container behaves like the ``ModuleList`` it replaces for the backbones' forward code: it iterates
    over the kept blocks in forward order, and supports ``len()`` and positional indexing.

    Args:
        blocks (Iterable[tuple[str, nn.Module]]): The kept ``(original name, block)`` pairs, in forward
            order.
        original_names (Sequence[str]): The block names of the unpruned container, in forward order.
            They let the structure record name every unit of the unpruned backbone.
    """

    def __init__(self, blocks: Iterable[Tuple[str, nn.Module]], original_names: Sequence[str]):
        super().__init__()
        for name, block in blocks:
            self.add_module(name, block)
        self.original_names = tuple(original_names)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self._modules.values())

    def __getitem__(self, position: int) -> nn.Module:
        if not isinstance(position, int):
            raise TypeError(f'{type(self).__name__} is indexed by an int position, got {position!r}; '
                            'iterate over it or use named_children() for the original names')
        return list(self._modules.values())[position]

    def extra_repr(self) -> str:
        return f'kept {len(self)} of {len(self.original_names)}'


class SequentialPrunedLayers(PrunedLayers):
    """:class:`PrunedLayers` that is also called like the ``nn.Sequential`` stage it replaces (CNN
    backbones call a stage as a whole: ``x = stage(x)``)."""

    def forward(self, x):
        for block in self:
            x = block(x)
        return x
