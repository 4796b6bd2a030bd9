"""``select_depth``: per-layer features + labels -> how many layers to keep."""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .depth_rule import check_alpha, depth_from_scores
from .inputs import check_layer_inputs
from .scorers import get_layer_scorer


@dataclass(frozen=True)
class DepthSelection:
    """The outcome of a depth criterion.

    Args:
        kept_depth (int): Number of layers to keep (layers ``kept_depth + 1 .. L`` are pruned).
        scores (tuple[float]): Per-layer scores, layer 1 first.
        threshold (float): ``alpha * scores[-1]``: the walk down from the top layer stops at the
            first layer scoring below it.
        alpha (float): The threshold fraction used.
        backend (str): The backend that computed the scores.
        criterion (str): The criterion that computed the scores.
        embeddings (tuple[np.ndarray], optional): Per-layer (N, 2) embeddings when they were asked
            for (``return_embeddings=True``) and the criterion has them; for plots.
    """

    kept_depth: int
    scores: Tuple[float, ...]
    threshold: float
    alpha: float
    backend: str
    criterion: str
    embeddings: Optional[Tuple[np.ndarray, ...]] = None

    @property
    def num_layers(self) -> int:
        """Number of layers that were scored."""
        return len(self.scores)


def select_depth(layer_features: Sequence,
                 labels,
                 alpha: float = 0.3,
                 backend: str = 'sklearn',
                 seed: int = 0,
                 *,
                 criterion: str = 'tsne_silhouette',
                 return_embeddings: bool = False,
                 **options) -> DepthSelection:
    """Choose the kept depth of a model from its per-layer features, as SLS does.

    Every layer is scored by ``criterion`` (by default SLS's: silhouette of the labels in a 2-D
    t-SNE of the layer's features), then :func:`depth_from_scores` walks down from the top layer
    with the threshold ``alpha * score of the top layer``.

    Args:
        layer_features (Sequence[array-like]): One (N, C_l) array per layer, layer 1 first (same
            N everywhere; C may vary, e.g. across Swin stages). numpy arrays or CPU tensors.
        labels (array-like): (N,) integer class labels, at least 2 classes.
        alpha (float): Threshold fraction in (0, 1]. Defaults to 0.3 (the paper's).
        backend (str): Implementation of the criterion. For ``'tsne_silhouette'``: ``'sklearn'``
            (the reference), ``'fast'`` (parallel CPU workers, cheaper optimisation, same kept
            depth on our benchmarks) or ``'torch'`` (batched exact t-SNE, for GPUs).
            Defaults to ``'sklearn'``.
        seed (int): Seed of the criterion's randomness (t-SNE's initialisation). Defaults to 0.
        criterion (str): Registered criterion name. Defaults to ``'tsne_silhouette'``.
        return_embeddings (bool): Keep the per-layer 2-D embeddings in the result.
            Defaults to False.
        **options: Backend-specific options, e.g. ``tsne=TSNESettings(...)``, ``num_workers``
            ('fast') or ``device`` ('torch').

    Returns:
        DepthSelection: The kept depth, per-layer scores and threshold.
    """
    check_alpha(alpha)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f'seed must be an int, got {type(seed).__name__}.')
    scorer = get_layer_scorer(criterion, backend)
    layer_features, labels = check_layer_inputs(layer_features, labels)
    result = scorer(layer_features, labels, seed=int(seed), return_embeddings=return_embeddings,
                    **options)
    kept_depth, threshold = depth_from_scores(result.scores, alpha)
    return DepthSelection(kept_depth=kept_depth, scores=tuple(result.scores), threshold=threshold,
                          alpha=alpha, backend=backend, criterion=criterion,
                          embeddings=result.embeddings)
