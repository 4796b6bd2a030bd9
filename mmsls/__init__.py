"""mmsls: adapters, SLS layer selection and progressive depth pruning for OpenMMLab vision models."""
from .checkpoint import allow_mmengine_checkpoints, register_safe_loaders

# Importing mmsls (directly, through `custom_imports`, or through a `type='mmsls.X'` lookup, which
# imports mmsls.registry and so this package) makes MMEngine's own checkpoints loadable under torch's
# safe loading, and every checkpoint source MMEngine reads (files, URLs, torch hub's cache, model zoo
# names) load safely.
allow_mmengine_checkpoints()
register_safe_loaders()
# It also makes every loading path refuse weights for only some blocks of a backbone (a pruned
# checkpoint in a model of the unpruned structure) instead of leaving random blocks: see load_guard.
from .depth.load_guard import install_load_guard  # noqa: E402

install_load_guard()

# The subpackages register their classes on import (see mmsls/registry.py). mmsls.datasets (it needs
# mmpretrain) is left to the registry: `type='mmsls.VTAB1k'` imports it on first use; nothing here
# imports mmpretrain, mmdet, mmseg or scikit-learn (a detection-only environment imports mmsls).
from .adapters import (AdaptedBackbone, Convpass, RepAdapter, count_parameters,  # noqa: E402
                       merge_adapters)
from .analysis import analyze_layers, capture_layer_features  # noqa: E402
from .criteria import DepthSelection, depth_from_scores, select_depth  # noqa: E402
from .depth import (PrunableUnit, apply_depth_structure, depth_keep, depth_structure,  # noqa: E402
                    prunable_units, prune_depth)
from .hooks import (DepthStructureHook, ProgressiveDepthHook, PruneDepthHook,  # noqa: E402
                    SLSHook, prune_runner_model)
from .registry import DATASETS, HOOKS, MODELS, TRANSFORMS  # noqa: E402
from .apis import export_task, init_model, load_task  # noqa: E402  (tools -> apis -> the rest)
from .version import __version__  # noqa: E402

__all__ = [
    'AdaptedBackbone', 'Convpass', 'DATASETS', 'DepthSelection', 'DepthStructureHook',
    'HOOKS', 'MODELS', 'PrunableUnit', 'ProgressiveDepthHook', 'PruneDepthHook', 'RepAdapter',
    'SLSHook', 'TRANSFORMS', '__version__', 'allow_mmengine_checkpoints', 'analyze_layers',
    'apply_depth_structure', 'capture_layer_features', 'count_parameters', 'depth_from_scores',
    'depth_keep', 'depth_structure', 'export_task', 'init_model', 'load_task', 'merge_adapters',
    'prunable_units', 'prune_depth', 'prune_runner_model', 'select_depth'
]
