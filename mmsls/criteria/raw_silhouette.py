"""A layer score without t-SNE: the silhouette of the class labels on the raw features.

The same coefficient as SLS's, ``mean_i (b_i - a_i) / max(a_i, b_i)``, computed with distances in the
layer's own feature space instead of a 2-D embedding. It is deterministic and costs one pairwise
distance matrix per layer, but in high dimensions distances concentrate, so the values are much
smaller than after t-SNE; the SLS rule only compares a layer with the top layer, so it still applies.
"""
from typing import List

import numpy as np

from mmsls.compat import require
from .scorers import LayerScores, register_layer_scorer

CRITERION = 'raw_silhouette'
METRICS = ('euclidean', 'cosine')


@register_layer_scorer(CRITERION, 'sklearn')
def raw_silhouette(layer_features: List[np.ndarray],
                   labels: np.ndarray,
                   *,
                   seed: int,
                   return_embeddings: bool,
                   metric: str = 'euclidean') -> LayerScores:
    """Silhouette of ``labels`` on each layer's raw features (sklearn's ``silhouette_score``).

    Args:
        layer_features (list[np.ndarray]): Checked (N, C_l) features per layer.
        labels (np.ndarray): (N,) integer labels.
        seed (int): Unused: the score is deterministic.
        return_embeddings (bool): Unused: there is no embedding to return.
        metric (str): ``'euclidean'`` or ``'cosine'`` distance. Defaults to ``'euclidean'``.

    Returns:
        LayerScores: One silhouette per layer, in [-1, 1].
    """
    if metric not in METRICS:
        raise ValueError(f'metric must be one of {METRICS}, got {metric!r}')
    require('sklearn', 'scikit-learn', "select_depth(criterion='raw_silhouette')")
    from sklearn.metrics import silhouette_score
    return LayerScores(tuple(float(silhouette_score(features, labels, metric=metric))
                             for features in layer_features))
