"""The pruned structure as part of a model's state: recorded in checkpoints, re-applied before loading."""
import re
from typing import Dict, List, Mapping

from torch import nn

from mmsls.families.merging import build_merged_block
from .api import find_backbone, prune_depth, unwrap_model
from .linearize import apply_merged_structure, merged_units

#: Key of the depth record in a checkpoint's ``meta``.
DEPTH_RECORD_KEY = 'mmsls_depth'


def depth_structure(model: nn.Module) -> Dict[str, List[str]]:
    """The depth record of ``model``: JSON-safe, and enough to prune an unpruned model alike.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.

    Returns:
        dict: ``units``, the unit names of the unpruned backbone, and ``kept``, those still present,
        both in forward order; ``merged`` (only when some are), kept unit name -> the spec its
        merged block (UPDP, :func:`mmsls.depth.merge_blocks`) is rebuilt from.
    """
    family, backbone = find_backbone(model)
    record = dict(units=family.original_unit_names(backbone),
                  kept=[unit.name for unit in family.units(backbone)])
    merged = merged_units(backbone)
    if merged:
        record['merged'] = merged
    return record


def is_depth_pruned(model: nn.Module) -> bool:
    """Whether the model's backbone has lost any unit or merged any (so needs a depth record)."""
    record = depth_structure(model)
    return record['kept'] != record['units'] or bool(record.get('merged'))


def recorded_keep(model: nn.Module, record: Mapping) -> List[int]:
    """Positions into ``prunable_units(model)`` that prune ``model`` to the structure in ``record``.

    Args:
        model (nn.Module): A model built from the config the record was made with; unpruned, or
            pruned to a superset of the record's kept units.
        record (Mapping): A record from :func:`depth_structure`.

    Returns:
        list[int]: The positions to keep.
    """
    _check_record_format(record)
    family, backbone = find_backbone(model)
    original = family.original_unit_names(backbone)
    if list(record['units']) != original:
        raise ValueError(
            f'the depth record was made on a backbone with units {_summary(record["units"])}, but this '
            f'{family.name} has {_summary(original)}. Build the model from the config the checkpoint '
            'was trained with')
    current = [unit.name for unit in family.units(backbone)]
    for name in record['kept']:
        if name not in current:
            raise ValueError(f'the depth record keeps {name}, which this model no longer has (it keeps '
                             f'{_summary(current)}). Load the checkpoint into a model built from its '
                             'config, before any pruning')
    return [current.index(name) for name in record['kept']]


def check_weights_match_record(model: nn.Module, record: Mapping, state_dict: Mapping) -> None:
    """Refuse a state dict that does not hold weights for exactly the record's kept units.

    Every kept unit must have all its weights (as ``model`` names them) and no removed unit may have
    any; the error names the first offending unit. A leading ``module.`` (DDP) is ignored, as MMEngine's
    loader strips it.

    Args:
        model (nn.Module): The model the state dict is for; its kept units are still present.
        record (Mapping): The depth record stored with the state dict.
        state_dict (Mapping): The checkpoint's state dict.
    """
    recorded_keep(model, record)
    family, backbone = find_backbone(model)
    prefix = backbone_state_prefix(model)
    keys = {re.sub(r'^module\.', '', key) for key in state_dict}
    units = {unit.name: unit.module for unit in family.units(backbone)}
    # A merged unit's weights are those of the merged block its spec builds.
    units.update({name: build_merged_block(spec) for name, spec in record.get('merged', {}).items()})
    kept = set(record['kept'])
    advice = ('the checkpoint\'s weights do not match its own depth record; use the checkpoint as its '
              'Runner saved it, or re-save it from the pruned model')
    for name in record['units']:
        unit_prefix = f'{prefix}{name}.'
        if name in kept:
            absent = [unit_prefix + key for key in units[name].state_dict()
                      if unit_prefix + key not in keys]
            if absent:
                raise ValueError(f'unit {name} is kept by the depth record, but the checkpoint has no '
                                 f'{absent[0]} ({len(absent)} of its weights are missing): {advice}')
        else:
            stray = sorted(key for key in keys if key.startswith(unit_prefix))
            if stray:
                raise ValueError(f'unit {name} is removed by the depth record, but the checkpoint holds '
                                 f'{stray[0]} ({len(stray)} weights of it): {advice}')


def apply_depth_structure(model: nn.Module, record: Mapping, state_dict: Mapping = None) -> None:
    """Prune ``model`` to the structure in ``record``, checking ``state_dict`` against it first.

    Args:
        model (nn.Module): A model built from the config the record was made with.
        record (Mapping): A record from :func:`depth_structure`.
        state_dict (Mapping, optional): The weights that will be loaded next; refused unless they
            hold exactly the kept units. Defaults to None (no check).
    """
    keep = recorded_keep(model, record)
    if state_dict is not None:
        check_weights_match_record(model, record, state_dict)
    prune_depth(model, keep, allow_empty_stages=True)
    apply_merged_structure(model, record.get('merged', {}))


def _check_record_format(record: Mapping) -> None:
    def is_name_list(value):
        return isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value)

    if not isinstance(record, Mapping) or not is_name_list(record.get('units')) \
            or not is_name_list(record.get('kept')):
        raise ValueError(f'a depth record is a dict with lists of unit names under "units" and "kept" '
                         f'(see mmsls.depth.depth_structure), got {record!r}')
    if not record['kept'] or len(set(record['kept'])) != len(record['kept']) \
            or not set(record['kept']) <= set(record['units']):
        raise ValueError(f'the depth record must keep a non-empty set of distinct units out of its '
                         f'"units", got kept={list(record["kept"])}')
    merged = record.get('merged', {})
    if not isinstance(merged, Mapping) or not set(merged) <= set(record['kept']) \
            or not all(isinstance(spec, Mapping) and 'type' in spec for spec in merged.values()):
        raise ValueError(f'the depth record\'s "merged" must map kept unit names to merged block specs '
                         f'(dicts with a "type"), got {merged!r}')


def backbone_state_prefix(model: nn.Module) -> str:
    """The prefix of the backbone's keys in ``model``'s state dict (e.g. ``backbone.``).

    Found by tensor identity, because wrappers such as ``AdaptedBackbone`` rename keys. A model wrapper
    (DDP) or TTA model is looked through: the prefix is that of the unwrapped model's state dict.
    """
    _, backbone = find_backbone(model)
    model = unwrap_model(model)
    model_keys = {id(tensor): key for key, tensor in model.state_dict(keep_vars=True).items()}
    for name, tensor in backbone.state_dict(keep_vars=True).items():
        key = model_keys.get(id(tensor))
        if key is not None and key.endswith(name):
            return key[:-len(name)]
    raise ValueError(f'the state dict of {type(model).__name__} does not contain the weights of its '
                     f'backbone {type(backbone).__name__}')


def _summary(names: List[str]) -> str:
    """A short readable form of a list of unit names."""
    names = list(names)
    if len(names) <= 4:
        return f'[{", ".join(names)}] ({len(names)} units)'
    return f'[{names[0]}, {names[1]}, ..., {names[-1]}] ({len(names)} units)'
