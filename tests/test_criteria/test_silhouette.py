"""Silhouette of an embedding: min-max normalisation; the batched torch version equals sklearn's."""
import numpy as np
import torch
from sklearn.metrics import silhouette_score

from mmsls.criteria.silhouette import (batched_embedding_silhouette, embedding_silhouette,
                                       minmax_normalise)


def test_minmax_normalise_scales_each_axis_to_the_unit_interval():
    rng = np.random.default_rng(0)
    embedding = rng.standard_normal((50, 2)) * [100.0, 0.01] + [5.0, -3.0]
    normalised = minmax_normalise(embedding)
    np.testing.assert_allclose(normalised.min(0), 0)
    np.testing.assert_allclose(normalised.max(0), 1)
    # A constant axis has no spread to scale: it becomes 0 instead of NaN.
    embedding[:, 1] = 7.0
    assert np.all(minmax_normalise(embedding)[:, 1] == 0)


def test_score_is_sklearn_silhouette_of_the_normalised_embedding():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 60)
    # Classes separated along x only, with y 100 times wider: normalisation changes the score.
    embedding = np.stack([labels + 0.1 * rng.standard_normal(60), 100 * rng.standard_normal(60)], 1)
    score = embedding_silhouette(embedding, labels)
    assert score == silhouette_score(minmax_normalise(embedding), labels)
    assert score < silhouette_score(embedding[:, :1], labels) - 0.2


def test_batched_torch_silhouette_equals_sklearn():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 7, 90)
    labels[:2] = [7, 8]  # two classes with a single point each (their silhouette is 0)
    embeddings = rng.standard_normal((4, 90, 2)) + 0.7 * rng.standard_normal((4, 9, 2))[:, labels]
    expected = [embedding_silhouette(e, labels) for e in embeddings]
    got = batched_embedding_silhouette(torch.from_numpy(embeddings), torch.from_numpy(labels))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
