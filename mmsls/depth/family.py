"""One interface over the prunable blocks of every backbone family, and the table of families."""
import operator
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Type

from torch import nn

from .pruned_layers import PrunedLayers


@dataclass(frozen=True)
class PrunableUnit:
    """A block that depth pruning may remove.

    Args:
        name (str): The block's module path relative to the backbone, e.g. ``layers.3`` or
            ``stages.2.blocks.4``. Pruned containers keep original indices, so the name never changes.
        module (nn.Module): The block itself.
        required (bool): Whether the block may only be removed when the caller passes
            ``allow_empty_stages=True`` (e.g. the first block of a Swin stage).
    """
    name: str
    module: nn.Module
    required: bool = False

    @property
    def container(self) -> str:
        """The path of the block list holding this unit, relative to the backbone."""
        return self.name.rpartition('.')[0]


class DepthFamily:
    """The depth interface of one backbone family.

    A family names the block lists of its backbone in forward order; listing and removing units is
    shared. Adding a family is one subclass decorated with :func:`register_depth_family`, in its own file
    under ``mmsls/depth/families/``: define :meth:`matches` and :meth:`containers`, and override
    :meth:`is_required` / :meth:`attributes_after` where the backbone needs them.
    """

    #: Readable name of the family, used in messages.
    name: str = ''
    #: Why a required unit is protected, used in messages.
    required_reason: str = ''

    def matches(self, backbone: nn.Module) -> bool:
        """Whether ``backbone`` belongs to this family."""
        raise NotImplementedError

    def containers(self, backbone: nn.Module) -> List[str]:
        """Paths (relative to the backbone) of the block lists, in forward order."""
        raise NotImplementedError

    def is_required(self, container: str, position: int) -> bool:
        """Whether the block at ``position`` of ``container`` is a required unit."""
        return False

    def attributes_after(self, backbone: nn.Module, kept: List[PrunableUnit]) -> Dict[str, object]:
        """Backbone attributes to set once only ``kept`` remain (e.g. ``num_layers``).

        Called before anything changes, so it may refuse a keep set by raising.
        """
        return {}

    def units(self, backbone: nn.Module) -> List[PrunableUnit]:
        """The current prunable units of ``backbone``, in forward order."""
        units = []
        for path in self.containers(backbone):
            for position, (name, block) in enumerate(backbone.get_submodule(path).named_children()):
                units.append(PrunableUnit(f'{path}.{name}', block, self.is_required(path, position)))
        return units

    def original_unit_names(self, backbone: nn.Module) -> List[str]:
        """The unit names of the backbone before any pruning, in forward order."""
        return [f'{path}.{child}' for path in self.containers(backbone)
                for child in _original_children(backbone.get_submodule(path))]

    def prune(self, backbone: nn.Module, keep: Iterable[int], allow_empty_stages: bool = False) -> None:
        """Remove every unit whose position is not in ``keep``.

        Args:
            backbone (nn.Module): A backbone of this family; pruned in place.
            keep (Iterable[int]): Positions into :meth:`units` to keep, in any order.
            allow_empty_stages (bool): Allow removing required units. Defaults to False.
        """
        units = self.units(backbone)
        positions = self._checked_keep(units, keep, allow_empty_stages)
        if len(positions) == len(units):
            return
        kept = [units[position] for position in positions]
        attributes = self.attributes_after(backbone, kept)
        for path in self.containers(backbone):
            container = backbone.get_submodule(path)
            blocks = [(unit.name.rpartition('.')[2], unit.module) for unit in kept
                      if unit.container == path]
            pruned = PrunedLayers(blocks, _original_children(container))
            parent, _, attribute = path.rpartition('.')
            setattr(backbone.get_submodule(parent), attribute, pruned)
        for attribute, value in attributes.items():
            setattr(backbone, attribute, value)

    def _checked_keep(self, units: List[PrunableUnit], keep: Iterable[int],
                      allow_empty_stages: bool) -> List[int]:
        """``keep`` as sorted positions, or a clear error naming what is wrong with it."""
        count = len(units)
        listing = f'prunable_units(model) lists {count} units (positions 0..{count - 1})'
        try:
            positions = [operator.index(position) for position in keep]
        except TypeError:
            raise TypeError(f'keep must be a sequence of int positions; {listing}. Got {keep!r}') from None
        if not positions:
            raise ValueError(f'keep is empty: pruning every unit would leave the {self.name} without '
                             f'blocks. Keep at least one unit; {listing}')
        for position in positions:
            if not 0 <= position < count:
                raise ValueError(f'keep names position {position}, which is not a unit: {listing}')
        seen = set()
        for position in positions:
            if position in seen:
                raise ValueError(f'keep lists position {position} ({units[position].name}) twice; '
                                 'list each kept unit once')
            seen.add(position)
        if not allow_empty_stages:
            for position, unit in enumerate(units):
                if unit.required and position not in seen:
                    raise ValueError(
                        f'keep drops {unit.name}, a required unit ({self.required_reason}). Add its '
                        f'position {position} to keep, or pass allow_empty_stages=True to remove it')
        return sorted(positions)


def _original_children(container: nn.Module) -> List[str]:
    """The child names a block list had before any pruning."""
    if isinstance(container, PrunedLayers):
        return list(container.original_names)
    return [name for name, _ in container.named_children()]


#: The depth families, in the order they are tried.
DEPTH_FAMILIES: List[DepthFamily] = []


def register_depth_family(cls: Type[DepthFamily]) -> Type[DepthFamily]:
    """Class decorator adding a family to :data:`DEPTH_FAMILIES`."""
    DEPTH_FAMILIES.append(cls())
    return cls


def find_depth_family(backbone: nn.Module) -> Optional[DepthFamily]:
    """The family that ``backbone`` belongs to, or None."""
    return next((family for family in DEPTH_FAMILIES if family.matches(backbone)), None)
