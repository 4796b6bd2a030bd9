"""Depth criteria: pure functions from per-layer features and labels to a kept depth."""
from . import tsne_silhouette  # noqa: F401  registers the 'tsne_silhouette' backends
from . import linear_probe, raw_silhouette  # noqa: F401  registers the extra criteria
from .depth_rule import depth_from_scores
from .inputs import check_layer_inputs
from .scorers import LAYER_SCORERS, LayerScores, get_layer_scorer, register_layer_scorer
from .selection import DepthSelection, resolve_backend, select_depth
from .tsne_settings import TSNESettings

__all__ = [
    'DepthSelection', 'LAYER_SCORERS', 'LayerScores', 'TSNESettings', 'check_layer_inputs',
    'depth_from_scores', 'get_layer_scorer', 'register_layer_scorer', 'resolve_backend',
    'select_depth'
]
