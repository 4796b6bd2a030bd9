"""The table of backbone families, in the order they are tried."""
from typing import List, Optional, Type

from torch import nn

from .base import BackboneFamily

#: One instance per registered family.
FAMILIES: List[BackboneFamily] = []


def register_family(cls: Type[BackboneFamily]) -> Type[BackboneFamily]:
    """Class decorator adding a family to :data:`FAMILIES`."""
    FAMILIES.append(cls())
    return cls


def find_family(backbone: nn.Module) -> Optional[BackboneFamily]:
    """The family that ``backbone`` belongs to, or None."""
    return next((family for family in FAMILIES if family.matches(backbone)), None)


def supported_backbones(with_adapters: bool = False) -> str:
    """The names of the registered families (only those taking adapters with ``with_adapters``)."""
    return ', '.join(family.name for family in FAMILIES
                     if family.adapter_sites or not with_adapters)
