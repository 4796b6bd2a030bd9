"""sklearn t-SNE over layers: parallel workers give exactly the sequential one-thread result."""
import numpy as np
import pytest
import torch
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_info, threadpool_limits

from mmsls.criteria import TSNESettings, select_depth
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


def _authors_scores(layer_features, labels):
    """The SLS authors' criterion, as their code runs it: TSNE(n_components=2, init='pca',
    random_state=0) on the float32 features, min-max normalisation, silhouette of the points
    (which their code hands to sklearn as float64, after a csv round trip)."""
    embeddings, scores = [], []
    for features in layer_features:
        points = TSNE(n_components=2, init='pca', random_state=0).fit_transform(features)
        low, high = points.min(0), points.max(0)
        normalised = ((points - low) / (high - low)).astype(np.float64)
        embeddings.append(points)
        scores.append(float(silhouette_score(normalised, labels)))
    return embeddings, scores


def test_the_reference_backend_is_the_authors_call_bit_for_bit():
    # Fresh, non-trivial float32 features (what the capture produces), wide enough for sklearn's
    # randomized PCA initialisation.
    features, labels = synthetic_layer_features([0.2, 1.0], 150, 3, num_dims=520, seed=4)
    features = [layer.astype(np.float32) for layer in features]
    with threadpool_limits(limits=1):  # the reference's thread count (see the module notes)
        embeddings, scores = _authors_scores(features, labels)
        # What mmsls passed before: a Python float keeps sklearn's update in float32 on numpy 2.
        python_float = TSNE(n_components=2, init='pca', random_state=0,
                            learning_rate=50.0).fit_transform(features[0])
    selection = select_depth(features, labels, alpha=0.3, backend='sklearn', seed=0,
                             return_embeddings=True)
    assert all(np.array_equal(ours, theirs)
               for ours, theirs in zip(selection.embeddings, embeddings))
    assert list(selection.scores) == scores
    if int(np.__version__.split('.')[0]) >= 2:
        assert not np.array_equal(python_float, embeddings[0])
