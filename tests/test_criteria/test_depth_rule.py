"""The SLS threshold walk: known profiles, the brute-force definition, and bad input."""
import numpy as np
import pytest

from mmsls.criteria import depth_from_scores


@pytest.mark.parametrize('scores, alpha, expected_depth', [
    # Separability rises then falls: T = 0.3 * 0.6 = 0.18, layer 3 (0.1) is the first below.
    ([-0.05, 0.0, 0.1, 0.45, 0.8, 0.9, 0.7, 0.6], 0.3, 4),
    # A dip stops the walk even though lower layers score well again.
    ([0.9, 0.9, 0.1, 0.8, 0.8], 0.3, 4),
    # Every layer reaches the threshold: keep only the first.
    ([0.5, 0.6, 0.7], 0.3, 1),
    # alpha = 1: only layers at least as good as the top one survive the walk.
    ([0.2, 0.9, 0.5, 0.5], 1.0, 2),
    # A layer exactly at the threshold stays.
    ([0.1, 0.3, 1.0], 0.3, 2),
    ([0.7], 0.3, 1),
])
def test_known_profiles(scores, alpha, expected_depth):
    kept_depth, threshold = depth_from_scores(scores, alpha)
    assert kept_depth == expected_depth
    assert threshold == pytest.approx(alpha * scores[-1])


def test_agrees_with_the_definition_on_random_scores():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.uniform(-0.3, 1, rng.integers(1, 25))
        scores[-1] = rng.uniform(0.01, 1)
        alpha = rng.uniform(0.01, 1)
        threshold = alpha * scores[-1]
        # Smallest k with every layer k..L at or above the threshold (layers 1-based).
        expected = min(k for k in range(1, scores.size + 1) if np.all(scores[k - 1:] >= threshold))
        assert depth_from_scores(scores, alpha) == (expected, pytest.approx(threshold))


@pytest.mark.parametrize('top_score', [0.0, -0.2])
def test_top_layer_without_separation_keeps_everything_and_warns(top_score):
    with pytest.warns(UserWarning, match='keeping all 3 layers'):
        kept_depth, _ = depth_from_scores([0.5, 0.4, top_score], 0.3)
    assert kept_depth == 3


@pytest.mark.parametrize('alpha', [0, -0.1, 1.01, float('nan'), float('inf')])
def test_alpha_outside_the_unit_interval_is_refused(alpha):
    with pytest.raises(ValueError, match=r'alpha must be in \(0, 1\]'):
        depth_from_scores([0.2, 0.5], alpha)


@pytest.mark.parametrize('alpha', ['0.3', None, True])
def test_alpha_that_is_not_a_number_is_refused(alpha):
    with pytest.raises(TypeError, match='alpha must be a number'):
        depth_from_scores([0.2, 0.5], alpha)


@pytest.mark.parametrize('scores, message', [
    ([], 'non-empty'),
    ([[0.1, 0.2]], 'non-empty 1-D'),
    ([0.1, float('nan')], 'finite'),
    ([0.1, float('inf')], 'finite'),
])
def test_bad_scores_are_refused(scores, message):
    with pytest.raises(ValueError, match=message):
        depth_from_scores(scores, 0.3)
