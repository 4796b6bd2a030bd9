"""Depth pruning of any supported model, without branching on the backbone family."""
from typing import Iterable, List, Optional, Tuple

from mmengine.model import BaseTTAModel, is_model_wrapper
from torch import nn

from .family import DEPTH_FAMILIES, DepthFamily, PrunableUnit, find_depth_family


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside MMEngine's wrappers (DDP, ...) and test-time-augmentation models.

    These hold the real model as ``.module`` and load checkpoints into it, as MMEngine's checkpoint
    loader does.
    """
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def find_backbone(model: nn.Module) -> Tuple[DepthFamily, nn.Module]:
    """The prunable backbone of ``model`` and its depth family.

    Looks inside model wrappers and TTA models (:func:`unwrap_model`), then walks down ``.backbone``
    attributes (mmpretrain classifiers, mmdet detectors, mmseg segmentors, mmsls's
    ``AdaptedBackbone``) until a module belongs to a depth family.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.

    Returns:
        tuple[DepthFamily, nn.Module]: The family and the backbone it matched.
    """
    family, backbone, visited = _search_backbone(model)
    if family is None:
        supported = ', '.join(family.name for family in DEPTH_FAMILIES)
        raise TypeError(f'no prunable backbone found in {" -> ".join(visited)}: depth pruning supports '
                        f'{supported}. Another backbone family is one DepthFamily subclass in '
                        'mmsls/depth/families/')
    return family, backbone


def has_prunable_backbone(model: nn.Module) -> bool:
    """Whether :func:`find_backbone` finds a backbone of a depth family in ``model``."""
    return _search_backbone(model)[0] is not None


def _search_backbone(model: nn.Module) -> Tuple[Optional[DepthFamily], Optional[nn.Module], List[str]]:
    """``(family, backbone, [])``, or ``(None, None, names of the modules visited)``."""
    candidate, visited = unwrap_model(model), []
    while candidate is not None:
        family = find_depth_family(candidate)
        if family is not None:
            return family, candidate, []
        visited.append(type(candidate).__name__)
        candidate = getattr(candidate, 'backbone', None)
    return None, None, visited


def prunable_units(model: nn.Module) -> List[PrunableUnit]:
    """The prunable units of the model's backbone, in forward order.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.

    Returns:
        list[PrunableUnit]: Units named by their path relative to the backbone (e.g. ``layers.3``).
    """
    family, backbone = find_backbone(model)
    return family.units(backbone)


def prune_depth(model: nn.Module, keep: Iterable[int], allow_empty_stages: bool = False) -> None:
    """Remove every unit of the model's backbone whose position is not in ``keep``, in place.

    Pruning an already pruned model works: positions index its current :func:`prunable_units`.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        keep (Iterable[int]): 0-based positions into ``prunable_units(model)``, in any order.
        allow_empty_stages (bool): Allow removing required units, such as the first block of a Swin
            stage (which may leave a stage without blocks). Defaults to False.
    """
    family, backbone = find_backbone(model)
    family.prune(backbone, keep, allow_empty_stages=allow_empty_stages)


def depth_keep(model: nn.Module, depth: int) -> List[int]:
    """Positions to keep for "the first ``depth`` units in forward order, plus every required unit".

    This turns a kept depth k (SLS) into a keep set for :func:`prune_depth` for any family.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        depth (int): How many units to keep from the input side, 1..len(prunable_units(model)).

    Returns:
        list[int]: Sorted positions into ``prunable_units(model)``.
    """
    units = prunable_units(model)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= len(units):
        raise ValueError(f'depth must be an int in 1..{len(units)} (the model has {len(units)} '
                         f'prunable units), got {depth!r}')
    return [position for position, unit in enumerate(units) if position < depth or unit.required]
