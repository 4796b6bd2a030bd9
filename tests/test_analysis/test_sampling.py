"""Class-balanced seeded sampling."""
import random

import numpy as np
import pytest
import torch

from mmsls.analysis.sampling import (ClassQuota, balanced_counts, seeded_random_state,
                                     select_balanced)


@pytest.mark.parametrize('sizes, num_samples, expected', [
    ([10, 10, 10], 9, [3, 3, 3]),
    ([2, 10, 10], 10, [2, 4, 4]),        # the small class gives all it has, the rest is shared
    ([10, 10, 10], 10, [4, 3, 3]),       # remainder: largest spare capacity, then lower id
    ([1, 5, 30], 20, [1, 5, 14]),
    ([3, 4], 100, [3, 4]),               # fewer than asked: everything
    ([0, 6, 6], 4, [0, 2, 2]),
])
def test_balanced_counts(sizes, num_samples, expected):
    counts = balanced_counts(np.array(sizes), num_samples)
    assert counts.tolist() == expected
    assert counts.sum() == min(num_samples, sum(sizes))


def test_select_balanced_is_seeded_balanced_and_a_subset():
    labels = np.random.default_rng(5).integers(0, 4, size=200)
    chosen = select_balanced(labels, 40, seed=3)
    assert len(chosen) == len(set(chosen.tolist())) == 40
    assert np.bincount(labels[chosen], minlength=4).tolist() == [10, 10, 10, 10]
    assert np.array_equal(chosen, select_balanced(labels, 40, seed=3))
    assert not np.array_equal(chosen, select_balanced(labels, 40, seed=4))
    assert np.array_equal(select_balanced(labels, 500, seed=0), np.arange(200))


def test_class_quota():
    quota = ClassQuota(num_classes=2, per_class=2)
    assert [quota.take(label) for label in [0, 0, 0, 1]] == [True, True, False, True]
    assert not quota.full
    assert quota.take(1) and quota.full and not quota.take(1)


def test_seeded_random_state_is_reproducible_and_restores_the_outer_stream():
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    expected_outer = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    draws = []
    for _ in range(2):
        with seeded_random_state(7):
            draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected_outer
