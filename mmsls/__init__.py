"""mmsls: adapters, SLS layer selection and progressive depth pruning for OpenMMLab vision models."""
from .checkpoint import allow_mmengine_checkpoints

# Importing mmsls (directly, through `custom_imports` or through a `type='mmsls.X'` lookup, which
# imports mmsls.registry and so this package) makes MMEngine's own checkpoints loadable under torch's
# safe loading.
allow_mmengine_checkpoints()

from . import datasets  # noqa: E402,F401  (registers the datasets)
from .registry import DATASETS, HOOKS, MODELS, TRANSFORMS  # noqa: E402

__version__ = '0.1.0'
__all__ = ['MODELS', 'HOOKS', 'DATASETS', 'TRANSFORMS', 'allow_mmengine_checkpoints']
