"""sklearn t-SNE over layers: parallel workers give exactly the sequential one-thread result."""
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from mmsls.criteria import TSNESettings
from mmsls.criteria.synthetic import synthetic_layer_features
from mmsls.criteria.tsne_sklearn import (parallel_sklearn_tsne_embed, sequential_sklearn_tsne_embed,
                                         sklearn_tsne_embed)

SETTINGS = TSNESettings(perplexity=10.0, max_iter=300)


@pytest.fixture(scope='module')
def layers():
    # Real layers are captured by a process that runs torch: let torch start its threads first.
    torch.randn(64, 64) @ torch.randn(64, 64)
    features, _ = synthetic_layer_features([0.0, 1.0, 0.5], 120, 3, num_dims=16, seed=0)
    return features


def test_parallel_workers_reproduce_the_sequential_reference(layers):
    sequential = sequential_sklearn_tsne_embed(layers, SETTINGS, seed=3)
    blas_before = [lib['num_threads'] for lib in threadpool_info()]
    parallel = parallel_sklearn_tsne_embed(layers, SETTINGS, seed=3, num_workers=2)
    # Identical embeddings: every worker ran its t-SNE on a single thread, as the reference does
    # (a different thread count changes the Barnes-Hut sums and so the result).
    assert all(np.array_equal(a, b) for a, b in zip(sequential, parallel))
    assert [lib['num_threads'] for lib in threadpool_info()] == blas_before  # limits restored
    single_worker = parallel_sklearn_tsne_embed(layers, SETTINGS, seed=3, num_workers=1)
    assert all(np.array_equal(a, b) for a, b in zip(sequential, single_worker))
    assert [e.shape for e in parallel] == [(120, 2)] * 3


def test_seed_reaches_the_randomized_pca_initialisation():
    # sklearn's PCA is randomized (seeded) for inputs this wide, exact for narrow ones.
    (wide,), _ = synthetic_layer_features([1.0], 120, 3, num_dims=600, seed=0)
    first, again = sequential_sklearn_tsne_embed([wide] * 2, SETTINGS, seed=0)
    assert np.array_equal(first, again)
    (other,) = sequential_sklearn_tsne_embed([wide], SETTINGS, seed=1)
    assert not np.allclose(first, other)


def test_schedules_that_sklearn_cannot_run_are_refused(layers):
    with pytest.raises(ValueError, match='fixes the early exaggeration phase at 250'):
        sklearn_tsne_embed(layers[0], TSNESettings(exaggeration_iter=100), seed=0)


def test_bad_worker_count_is_refused(layers):
    with pytest.raises(ValueError, match='num_workers must be >= 1'):
        parallel_sklearn_tsne_embed(layers, SETTINGS, num_workers=0)
