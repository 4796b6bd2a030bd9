"""Synthetic layer features: the construction is what the docstring says."""
import numpy as np
import pytest

from mmsls.criteria.synthetic import BENCHMARK_CASES, synthetic_layer_features


def test_separated_classes_have_centres_and_the_others_do_not():
    features, labels = synthetic_layer_features([0.0, 0.5, 1.0], 2000, 4, num_dims=64,
                                                separation=2.0, seed=3)
    assert [f.shape for f in features] == [(2000, 64)] * 3
    assert all(f.dtype == np.float32 for f in features) and labels.dtype == np.int64
    assert np.bincount(labels).tolist() == [500] * 4
    centre_norm = 2.0 * 64**0.25
    for layer, separated in enumerate([[], [0, 1], [0, 1, 2, 3]]):
        for label in range(4):
            norm = np.linalg.norm(features[layer][labels == label].mean(0))
            # The mean of 500 unit-variance points in 64 dims has norm about sqrt(64 / 500).
            expected = centre_norm if label in separated else 0.36
            assert norm == pytest.approx(expected, abs=0.15)


def test_same_seed_same_features_and_noise_is_fresh_per_layer():
    first, labels = synthetic_layer_features([0.5, 0.5], 50, 5, num_dims=8, seed=1)
    again, labels_again = synthetic_layer_features([0.5, 0.5], 50, 5, num_dims=8, seed=1)
    assert np.array_equal(labels, labels_again)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], first[1])


@pytest.mark.parametrize('kwargs, message', [
    (dict(separated_fractions=[]), 'non-empty'),
    (dict(separated_fractions=[0.5, 1.2]), r'in \[0, 1\]'),
    (dict(num_classes=1), 'at least 2 classes'),
    (dict(num_samples=3), 'one point per class'),
])
def test_bad_arguments_are_refused(kwargs, message):
    arguments = dict(separated_fractions=[0.5], num_samples=20, num_classes=4, num_dims=4)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        synthetic_layer_features(**arguments)


def test_benchmark_cases_are_12_layer_profiles():
    assert len({case.name for case in BENCHMARK_CASES}) == len(BENCHMARK_CASES)
    for case in BENCHMARK_CASES:
        assert len(case.separated_fractions) == 12
        # Everything from the expected depth up separates at least half of the classes.
        assert min(case.separated_fractions[case.expected_depth - 1:]) >= 0.5
