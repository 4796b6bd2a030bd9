"""The common interface of depth criteria: (per-layer features, labels) -> per-layer scores.

A criterion is named (``'tsne_silhouette'``) and may have several backends (``'sklearn'``,
``'fast'``, ``'torch'``): implementations of the same score that differ in speed, not in meaning.
Each pair maps to a scorer function with the signature::

    scorer(layer_features: list[np.ndarray], labels: np.ndarray, *, seed: int,
           return_embeddings: bool, **options) -> LayerScores

which receives inputs already checked by :func:`mmsls.criteria.inputs.check_layer_inputs` and
returns one score per layer (layer 1 first; higher means better separated classes). A new
criterion (e.g. the silhouette of the raw features, or a linear probe) registers itself with
:func:`register_layer_scorer` and is then usable through :func:`mmsls.criteria.select_depth` with
``criterion=...``.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class LayerScores:
    """What a scorer returns.

    Args:
        scores (tuple[float]): One score per layer, layer 1 first.
        embeddings (tuple[np.ndarray], optional): Per-layer low-dimensional points that the scores
            were computed on (for plots), when the scorer has them and they were asked for.
    """

    scores: Tuple[float, ...]
    embeddings: Optional[Tuple[np.ndarray, ...]] = None


LayerScorer = Callable[..., LayerScores]

LAYER_SCORERS: Dict[Tuple[str, str], LayerScorer] = {}


def register_layer_scorer(criterion: str, backend: str) -> Callable[[LayerScorer], LayerScorer]:
    """Decorator registering ``scorer`` as the ``backend`` implementation of ``criterion``."""

    def register(scorer: LayerScorer) -> LayerScorer:
        key = (criterion, backend)
        if key in LAYER_SCORERS:
            raise KeyError(f'A scorer for criterion {criterion!r} with backend {backend!r} is '
                           f'already registered: {LAYER_SCORERS[key]!r}.')
        LAYER_SCORERS[key] = scorer
        return scorer

    return register


def get_layer_scorer(criterion: str, backend: str) -> LayerScorer:
    """Look up a registered scorer, with an error that lists what is available."""
    try:
        return LAYER_SCORERS[(criterion, backend)]
    except KeyError:
        available = ', '.join(f'{c!r}/{b!r}' for c, b in sorted(LAYER_SCORERS))
        raise ValueError(f'No scorer for criterion {criterion!r} with backend {backend!r}; '
                         f'available (criterion/backend): {available}.') from None
