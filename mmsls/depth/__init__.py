"""Depth pruning: remove prunable units of any backbone family (the units and rules come from
:mod:`mmsls.families`), and the structure record that makes a pruned model loadable (loading and
per-task files: :mod:`mmsls.apis`)."""
from mmsls.families import PrunableUnit, PrunedLayers
from .api import (checked_keep, depth_keep, find_backbone, has_prunable_backbone, prunable_units,
                  prune_backbone, prune_depth, unwrap_model)
from .linearize import (LinearizedBlocks, calibrate_linearized, linearized, merge_blocks,
                        unit_names)
from .structure import (DEPTH_RECORD_KEY, apply_depth_structure, backbone_state_prefix,
                        check_weights_match_record, depth_structure, is_depth_pruned, recorded_keep)

__all__ = [
    'DEPTH_RECORD_KEY', 'LinearizedBlocks', 'PrunableUnit', 'calibrate_linearized', 'linearized',
    'merge_blocks', 'unit_names', 'PrunedLayers', 'apply_depth_structure',
    'backbone_state_prefix', 'check_weights_match_record', 'checked_keep', 'depth_keep',
    'depth_structure', 'find_backbone', 'has_prunable_backbone',
    'is_depth_pruned', 'prunable_units', 'prune_backbone', 'prune_depth',
    'recorded_keep', 'unwrap_model'
]
