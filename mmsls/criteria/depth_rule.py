"""The SLS threshold walk: per-layer scores -> kept depth."""
import warnings
from typing import Sequence, Tuple

import numpy as np


def check_alpha(alpha: float) -> None:
    """Raise if ``alpha`` is not a threshold fraction in (0, 1]."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)):
        raise TypeError(f'alpha must be a number in (0, 1], got {type(alpha).__name__}.')
    if not 0 < alpha <= 1:
        raise ValueError(f'alpha must be in (0, 1] (the threshold is alpha times the top layer\'s '
                         f'score; the paper uses 0.3), got {alpha}.')


def depth_from_scores(scores: Sequence[float], alpha: float = 0.3) -> Tuple[int, float]:
    """Choose how many layers to keep from per-layer scores, as SLS does.

    The threshold is ``T = alpha * scores[-1]`` (the top layer's own score). Walking down from the
    top layer, the walk stops at the first layer whose score is below ``T``; the kept depth ``k`` is
    the lowest layer reached, i.e. the smallest ``k`` with ``scores[j - 1] >= T`` for every layer
    ``j = k..L`` (layers are 1-based). If the top layer's score is ``<= 0`` the threshold carries no
    information, so all ``L`` layers are kept and a warning is issued.

    Args:
        scores (Sequence[float]): Per-layer scores, layer 1 first; higher means better separated.
        alpha (float): Fraction of the top layer's score that a layer must reach, in (0, 1].
            Defaults to 0.3 (the paper's value).

    Returns:
        tuple[int, float]: The kept depth ``k`` (1 <= k <= L) and the threshold ``T``.
    """
    check_alpha(alpha)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f'scores must be a non-empty 1-D sequence (one per layer), got shape '
                         f'{scores.shape}.')
    if not np.all(np.isfinite(scores)):
        raise ValueError(f'scores must be finite, got {scores.tolist()}.')
    num_layers = scores.size
    threshold = float(alpha * scores[-1])
    if scores[-1] <= 0:
        warnings.warn(f'The top layer scores {scores[-1]:.4f} <= 0: its classes are not separated, '
                      f'so the threshold is meaningless; keeping all {num_layers} layers.')
        return num_layers, threshold
    kept_depth = num_layers
    while kept_depth > 1 and scores[kept_depth - 2] >= threshold:
        kept_depth -= 1
    return kept_depth, threshold
