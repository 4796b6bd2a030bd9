"""Depth pruning of any supported model, without branching on the backbone family: the units and
rules come from the model's family (:mod:`mmsls.families`), the mechanism is here."""
import operator
from typing import Iterable, List, Optional, Tuple

from mmengine.model import BaseTTAModel, is_model_wrapper
from torch import nn

from mmsls.families import BackboneFamily, PrunableUnit, find_family, supported_backbones
from mmsls.families.base import original_children


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside MMEngine's wrappers (DDP, ...) and test-time-augmentation models.

    These hold the real model as ``.module`` and load checkpoints into it, as MMEngine's checkpoint
    loader does.
    """
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def find_backbone(model: nn.Module) -> Tuple[BackboneFamily, nn.Module]:
    """The prunable backbone of ``model`` and its family.

    Looks inside model wrappers and TTA models (:func:`unwrap_model`), then walks down ``.backbone``
    attributes (mmpretrain classifiers, mmdet detectors, mmseg segmentors, mmsls's
    ``AdaptedBackbone``) until a module belongs to a backbone family (:mod:`mmsls.families`).

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.

    Returns:
        tuple[BackboneFamily, nn.Module]: The family and the backbone it matched.
    """
    family, backbone, visited = _search_backbone(model)
    if family is None:
        raise TypeError(f'no prunable backbone found in {" -> ".join(visited)}: depth pruning supports '
                        f'{supported_backbones()}. Another backbone family is one BackboneFamily '
                        'subclass in a new file of mmsls/families/')
    return family, backbone


def has_prunable_backbone(model: nn.Module) -> bool:
    """Whether :func:`find_backbone` finds a backbone of a registered family in ``model``."""
    return _search_backbone(model)[0] is not None


def _search_backbone(model: nn.Module) -> Tuple[Optional[BackboneFamily], Optional[nn.Module], List[str]]:
    """``(family, backbone, [])``, or ``(None, None, names of the modules visited)``."""
    candidate, visited = unwrap_model(model), []
    while candidate is not None:
        family = find_family(candidate)
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
    prune_backbone(family, backbone, keep, allow_empty_stages=allow_empty_stages)


def prune_backbone(family: BackboneFamily, backbone: nn.Module, keep: Iterable[int],
                   allow_empty_stages: bool = False) -> None:
    """Remove every unit of ``backbone`` (of ``family``) whose position is not in ``keep``, in place.

    Each pruned block list becomes the family's ``pruned_container``, holding the kept blocks under
    their original names; the family's ``attributes_after`` (e.g. remapped ``out_indices``) are set.
    """
    units = family.units(backbone)
    positions = checked_keep(units, keep, family, allow_empty_stages)
    if len(positions) == len(units):
        return
    kept = [units[position] for position in positions]
    attributes = family.attributes_after(backbone, kept)
    for path in family.containers(backbone):
        container = backbone.get_submodule(path)
        blocks = [(unit.name.rpartition('.')[2], unit.module) for unit in kept
                  if unit.container == path]
        pruned = family.pruned_container(blocks, original_children(container))
        parent, _, attribute = path.rpartition('.')
        setattr(backbone.get_submodule(parent), attribute, pruned)
    for attribute, value in attributes.items():
        setattr(backbone, attribute, value)


def checked_keep(units: List[PrunableUnit], keep: Iterable[int], family: BackboneFamily,
                 allow_empty_stages: bool = False) -> List[int]:
    """``keep`` as sorted positions into ``units``, or a clear error naming what is wrong with it."""
    count = len(units)
    listing = f'prunable_units(model) lists {count} units (positions 0..{count - 1})'
    try:
        positions = [operator.index(position) for position in keep]
    except TypeError:
        raise TypeError(f'keep must be a sequence of int positions; {listing}. Got {keep!r}') from None
    if not positions:
        raise ValueError(f'keep is empty: pruning every unit would leave the {family.name} without '
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
    for position, unit in enumerate(units):
        if position in seen:
            continue
        blocker = family.removal_blocker(unit.module)
        if blocker:
            raise ValueError(f'keep drops {unit.name} (position {position}), which cannot be '
                             f'removed: it {blocker}, so the next block would get features of '
                             'another shape. Keep it; only blocks whose output has the shape of '
                             'their input can be removed')
        if unit.required and not allow_empty_stages:
            raise ValueError(
                f'keep drops {unit.name}, a required unit ({family.required_reason}). Add its '
                f'position {position} to keep, or pass allow_empty_stages=True to remove it')
    return sorted(positions)


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
