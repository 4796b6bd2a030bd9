"""Thin glue between mmsls and MMEngine's Runner; importing a module registers its hooks."""
from .broadcast import decide_on_rank0
from .depth_structure import DepthStructureHook
from .progressive_depth import ProgressiveDepthHook, fade_blend
from .runner_pruning import DepthPruningHook, PruneDepthHook, prune_runner_model
from .selection import (SELECTIONS, BypassSearch, FirstUnitsSelection, MessageHubSelection,
                        SLSSelection, UnitSelection, UnitsSelection, build_selection,
                        kept_unit_names)
from .sls_hook import SLSHook
from .strict_load import StrictLoadHook

__all__ = ['BypassSearch', 'DepthPruningHook', 'FirstUnitsSelection', 'DepthStructureHook',
           'MessageHubSelection', 'PruneDepthHook', 'ProgressiveDepthHook', 'SELECTIONS', 'SLSHook',
           'SLSSelection', 'StrictLoadHook', 'UnitSelection', 'UnitsSelection', 'build_selection',
           'decide_on_rank0', 'fade_blend', 'kept_unit_names', 'prune_runner_model']
