"""Parameter counting."""
from typing import NamedTuple

from torch import nn


class ParameterCount(NamedTuple):
    """Trainable (``requires_grad``) and total parameter elements of a module."""
    trainable: int
    total: int


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count the trainable and total parameter elements of ``model`` (shared ones once)."""
    params = list(model.parameters())
    return ParameterCount(
        trainable=sum(p.numel() for p in params if p.requires_grad),
        total=sum(p.numel() for p in params))
