"""Synthetic per-layer features whose class structure is known by construction.

Used by the tests and the benchmark of the depth criteria: every layer is a class-conditional
Gaussian mixture in which a chosen fraction of the classes is separated from the rest, so the
per-layer silhouette profile (and hence the kept depth) is set by the construction, not by a model.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class SyntheticCase:
    """A named layer profile with the kept depth its construction implies.

    Args:
        name (str): Short identifier used in benchmark tables.
        separated_fractions (tuple[float]): Per layer (layer 1 first), the fraction of the classes
            whose centres are pulled apart from the noise; the other classes share one blob.
        num_classes (int): Number of classes.
        expected_depth (int): The kept depth for ``alpha=0.3``, read off the construction: the
            layers from ``expected_depth`` up separate enough classes to stay far above the
            threshold, the layer below separates too few to reach it.
    """

    name: str
    separated_fractions: Tuple[float, ...]
    num_classes: int
    expected_depth: int


# Separability rises with depth, peaks, then falls in the last layers (as on cross-domain tasks).
_RISE_THEN_FALL = (0.0, 0.0, 0.0, 0.1, 0.5, 0.7, 0.9, 1.0, 1.0, 0.9, 0.8, 0.7)

BENCHMARK_CASES = (
    SyntheticCase('rise_fall_10cls', _RISE_THEN_FALL, num_classes=10, expected_depth=5),
    SyntheticCase('rise_fall_100cls', _RISE_THEN_FALL, num_classes=100, expected_depth=5),
)


def synthetic_layer_features(separated_fractions: Sequence[float],
                             num_samples: int,
                             num_classes: int,
                             num_dims: int = 768,
                             separation: float = 3.0,
                             seed: int = 0) -> Tuple[List[np.ndarray], np.ndarray]:
    """Draw per-layer features with a prescribed fraction of separated classes per layer.

    In layer ``l``, a point of class ``c`` is ``separation * num_dims**0.25 * mu_c + noise`` if
    ``c`` is among the first ``round(separated_fractions[l] * num_classes)`` classes, and pure noise
    otherwise; ``mu_c`` are random unit vectors and the noise is standard normal, drawn afresh per
    layer.
    The ``num_dims**0.25`` scaling keeps the meaning of ``separation`` independent of the dimension:
    the gap it opens between inter- and intra-class squared distances, relative to the spread of the
    latter, is about ``separation**2 / sqrt(2)``. With 10 to 100 classes, t-SNE silhouettes go from
    mixed (``separation <= 1``) to cleanly separated (``separation >= 2.5``).

    Args:
        separated_fractions (Sequence[float]): Fraction of separated classes per layer, layer 1
            first, each in [0, 1].
        num_samples (int): Number of points N (classes are balanced up to one point).
        num_classes (int): Number of classes C, at least 2.
        num_dims (int): Feature dimension D. Defaults to 768 (ViT-B).
        separation (float): Distance of a separated class centre from the blob, in the units
            above. Defaults to 3.0.
        seed (int): Seed of the generator. Defaults to 0.

    Returns:
        tuple[list[np.ndarray], np.ndarray]: The (N, D) float32 features of every layer and the (N,)
        int64 labels.
    """
    fractions = np.asarray(separated_fractions, dtype=np.float64)
    if fractions.ndim != 1 or fractions.size == 0 or np.any((fractions < 0) | (fractions > 1)):
        raise ValueError('separated_fractions must be a non-empty sequence of values in [0, 1], '
                         f'got {separated_fractions!r}.')
    if num_classes < 2 or num_samples < num_classes:
        raise ValueError(f'Need at least 2 classes and one point per class, got num_classes='
                         f'{num_classes} and num_samples={num_samples}.')
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_samples) % num_classes).astype(np.int64)
    centres = rng.standard_normal((num_classes, num_dims))
    centres *= separation * num_dims**0.25 / np.linalg.norm(centres, axis=1, keepdims=True)
    layer_features = []
    for fraction in fractions:
        is_separated = labels < round(fraction * num_classes)
        features = rng.standard_normal((num_samples, num_dims))
        features[is_separated] += centres[labels[is_separated]]
        layer_features.append(features.astype(np.float32))
    return layer_features, labels
