"""Validation of the criteria's inputs: per-layer features and class labels."""
from typing import Dict, List, Tuple

import numpy as np


def check_layer_inputs(layer_features, labels) -> Tuple[List[np.ndarray], np.ndarray]:
    """Validate per-layer features and labels and convert them to numpy.

    Args:
        layer_features (Sequence[array-like]): One (N, C_l) array per layer, layer 1 first; the
            channel count may differ between layers (as in Swin stages), N may not.
        labels (array-like): (N,) integer class labels.

    Returns:
        tuple[list[np.ndarray], np.ndarray]: Floating-point (N, C_l) arrays and (N,) labels.
    """
    if getattr(layer_features, 'ndim', None) == 2:  # one array (numpy or torch), not a list
        raise ValueError('layer_features must be a sequence of per-layer (N, C) arrays, got a '
                         'single 2-D array; wrap one layer as [features].')
    layer_features = list(layer_features)
    if not layer_features:
        raise ValueError('layer_features is empty: pass one (N, C) array per layer.')
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f'labels must be 1-D (one class per sample), got shape {labels.shape}.')
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f'labels must be integers, got dtype {labels.dtype}; map the classes to '
                        'integer ids first.')
    num_samples = labels.size
    num_classes = np.unique(labels).size
    if num_classes < 2:
        raise ValueError(f'labels contain {num_classes} class(es); separability needs at least 2 '
                         'classes in the sample.')
    if num_classes >= num_samples:
        raise ValueError(f'{num_samples} samples in {num_classes} classes: the silhouette needs '
                         'fewer classes than samples (some class with 2 or more samples).')
    checked = []
    for layer, features in enumerate(layer_features, start=1):
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] == 0:
            raise ValueError(f'Layer {layer}: features must be (N, C) with C >= 1, got shape '
                             f'{features.shape}.')
        if features.shape[0] != num_samples:
            raise ValueError(f'Layer {layer} has {features.shape[0]} samples but labels has '
                             f'{num_samples}: every layer must hold the same samples as labels.')
        if not np.issubdtype(features.dtype, np.number) or np.iscomplexobj(features):
            raise TypeError(f'Layer {layer}: features must be real numbers, got dtype '
                            f'{features.dtype}.')
        if features.dtype not in (np.float32, np.float64):  # what sklearn and torch take
            features = features.astype(np.float64)
        if not np.all(np.isfinite(features)):
            raise ValueError(f'Layer {layer}: features contain NaN or inf; check the captured '
                             'activations (e.g. a diverged model or fp16 overflow).')
        checked.append(features)
    return checked, labels


#: Largest feature magnitude accepted. t-SNE matches each point's Gaussian bandwidth to the
#: perplexity by halving or doubling it from 1 at most 100 times (sklearn's search and ours), so
#: squared neighbour distances must lie within about 2**±100 (1e±30); 1e12 keeps the squared
#: distances of features with up to ~1e5 channels inside that range.
MAX_FEATURE_MAGNITUDE = 1e12
#: A layer whose features vary across samples by less than this (absolutely)...
MIN_FEATURE_SPREAD = 1e-10
#: ...or by less than this fraction of their magnitude (a few float32 rounding steps, the precision
#: the t-SNE backends compute in) has no variation the criteria can resolve.
MIN_RELATIVE_SPREAD = 1e-6


def flat_layers(layer_features: List[np.ndarray]) -> Dict[int, str]:
    """Find layers whose features do not vary across samples; refuse features too large to score.

    A layer with identical rows (e.g. all zero) holds no information about the classes: its score is
    "no separation", 0, and t-SNE must not run on it (sklearn's Barnes-Hut tree cannot split
    identical points: the process crashes). Values that vary by less than :data:`MIN_FEATURE_SPREAD`,
    or by less than :data:`MIN_RELATIVE_SPREAD` of their magnitude, count as not varying: the
    backends' float32 arithmetic cannot resolve them either.

    Args:
        layer_features (list[np.ndarray]): Checked (N, C_l) features per layer
            (:func:`check_layer_inputs`).

    Returns:
        dict[int, str]: 0-based layer index -> why the layer counts as flat, for the flat layers.

    Raises:
        ValueError: A layer's features exceed :data:`MAX_FEATURE_MAGNITUDE` in magnitude (named).
    """
    flat = {}
    for index, features in enumerate(layer_features):
        magnitude = float(np.abs(features).max())
        if magnitude > MAX_FEATURE_MAGNITUDE:
            raise ValueError(
                f'Layer {index + 1}: features reach {magnitude:.3g} in magnitude, beyond the '
                f'{MAX_FEATURE_MAGNITUDE:.0e} that t-SNE\'s distance computations hold. This usually '
                'means a diverged model or a wrong capture; if the values are right, rescale the '
                'features (e.g. divide each layer by its standard deviation: t-SNE and the silhouette '
                'do not depend on the scale).')
        spread = float((features.max(0) - features.min(0)).max())
        if spread <= max(MIN_FEATURE_SPREAD, MIN_RELATIVE_SPREAD * magnitude):
            flat[index] = (f'its features vary across the {features.shape[0]} samples by at most '
                           f'{spread:.3g} (magnitude {magnitude:.3g})')
    return flat
