"""mmsls: adapters, SLS layer selection and progressive depth pruning for OpenMMLab vision models."""
from .checkpoint import allow_mmengine_checkpoints

# Importing mmsls (directly, through `custom_imports`, or through a `type='mmsls.X'` lookup, which
# imports mmsls.registry and so this package) makes MMEngine's own checkpoints loadable under torch's
# safe loading.
allow_mmengine_checkpoints()

# The subpackages register their classes on import (see mmsls/registry.py).
from .adapters import (AdaptedBackbone, Convpass, RepAdapter, count_parameters,  # noqa: E402
                       merge_adapters)
from .analysis import analyze_layers, capture_layer_features  # noqa: E402
from .criteria import DepthSelection, depth_from_scores, select_depth  # noqa: E402
from .datasets import (DigitsDataset, VTAB1k, write_tiny_ade20k,  # noqa: E402
                       write_tiny_classification, write_tiny_coco, write_tiny_vtab)
from .depth import (PrunableUnit, apply_depth_structure, depth_keep, depth_structure,  # noqa: E402
                    export_task, load_task, prunable_units, prune_depth)
from .hooks import (DepthStructureHook, ProgressiveDepthHook, PruneDepthHook,  # noqa: E402
                    SLSHook, prune_runner_model)
from .registry import DATASETS, HOOKS, MODELS, TRANSFORMS  # noqa: E402

__version__ = '0.1.0'
__all__ = [
    'AdaptedBackbone', 'Convpass', 'DATASETS', 'DepthSelection', 'DepthStructureHook', 'DigitsDataset',
    'HOOKS', 'MODELS', 'PrunableUnit', 'ProgressiveDepthHook', 'PruneDepthHook', 'RepAdapter',
    'SLSHook', 'TRANSFORMS', 'VTAB1k', 'allow_mmengine_checkpoints', 'analyze_layers',
    'apply_depth_structure', 'capture_layer_features', 'count_parameters', 'depth_from_scores',
    'depth_keep', 'depth_structure', 'export_task', 'load_task', 'merge_adapters', 'prunable_units',
    'prune_depth', 'prune_runner_model', 'select_depth', 'write_tiny_ade20k',
    'write_tiny_classification', 'write_tiny_coco', 'write_tiny_vtab'
]
