"""Silhouette on the raw features: the textbook coefficient, and the known depth of synthetic data."""
import numpy as np
import pytest

from mmsls.criteria import select_depth
from mmsls.criteria.synthetic import BENCHMARK_CASES, synthetic_layer_features


def textbook_silhouette(points, labels, distance):
    """mean_i (b_i - a_i) / max(a_i, b_i), computed point by point."""
    values = []
    for i, point in enumerate(points):
        dist = np.array([distance(point, other) for other in points])
        same = (labels == labels[i]) & (np.arange(len(points)) != i)
        a = dist[same].mean()
        b = min(dist[labels == other].mean() for other in set(labels) - {labels[i]})
        values.append((b - a) / max(a, b))
    return float(np.mean(values))


@pytest.mark.parametrize('metric, distance', [
    ('euclidean', lambda u, v: np.linalg.norm(u - v)),
    ('cosine', lambda u, v: 1 - u @ v / np.linalg.norm(u) / np.linalg.norm(v)),
])
def test_scores_are_the_silhouette_of_the_raw_features(metric, distance):
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1, 2], 10)
    centres = np.eye(5)[labels]
    layers = [rng.standard_normal((30, 5)) + offset * centres for offset in (0.0, 2.0, 6.0)]
    selection = select_depth(layers, labels, criterion='raw_silhouette', backend='sklearn',
                             metric=metric)
    expected = [textbook_silhouette(layer, labels, distance) for layer in layers]
    np.testing.assert_allclose(selection.scores, expected, rtol=1e-10)
    assert selection.scores[0] < 0.1 < selection.scores[1] < selection.scores[2]


def test_synthetic_rise_then_fall_keeps_the_known_depth():
    case = BENCHMARK_CASES[0]
    features, labels = synthetic_layer_features(case.separated_fractions, 300, case.num_classes,
                                                num_dims=64, seed=1)
    selection = select_depth(features, labels, criterion='raw_silhouette', backend='sklearn')
    assert selection.kept_depth == case.expected_depth
    assert selection.criterion == 'raw_silhouette' and selection.embeddings is None


def test_unknown_metric_is_refused():
    features, labels = synthetic_layer_features([0.0, 1.0], 40, 4, num_dims=8)
    with pytest.raises(ValueError, match="metric must be one of"):
        select_depth(features, labels, criterion='raw_silhouette', backend='sklearn',
                     metric='manhattan')
