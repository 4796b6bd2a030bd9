"""Depth pruning: the prunable units of every backbone family behind one interface, the structure
record that makes a pruned model loadable, and per-task export on top of a shared backbone."""
from . import families  # noqa: F401  (registers the families)
from .api import (depth_keep, find_backbone, has_prunable_backbone, prunable_units, prune_depth,
                  unwrap_model)
from .family import DEPTH_FAMILIES, DepthFamily, PrunableUnit, register_depth_family
from .pruned_layers import PrunedLayers
from .structure import (DEPTH_RECORD_KEY, apply_depth_structure, backbone_state_prefix,
                        check_weights_match_record, depth_structure, is_depth_pruned, recorded_keep)
from .task_export import TASK_FILE_FORMAT, export_task, file_sha256, load_task

__all__ = [
    'DEPTH_FAMILIES', 'DEPTH_RECORD_KEY', 'TASK_FILE_FORMAT', 'DepthFamily', 'PrunableUnit',
    'PrunedLayers', 'apply_depth_structure', 'backbone_state_prefix', 'check_weights_match_record',
    'depth_keep', 'depth_structure', 'export_task', 'file_sha256', 'find_backbone',
    'has_prunable_backbone', 'is_depth_pruned', 'load_task', 'prunable_units', 'prune_depth',
    'recorded_keep', 'register_depth_family', 'unwrap_model'
]
