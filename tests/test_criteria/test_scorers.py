"""The criterion/backend registry: a new criterion slots into select_depth."""
import numpy as np
import pytest

from mmsls.criteria import (LAYER_SCORERS, LayerScores, get_layer_scorer, register_layer_scorer,
                            select_depth)


@pytest.fixture
def class_mean_gap_criterion():
    """A throw-away criterion: distance between the two class means of each layer."""

    @register_layer_scorer('test_mean_gap', 'numpy')
    def mean_gap(layer_features, labels, *, seed, return_embeddings, scale=1.0):
        return LayerScores(tuple(
            scale * float(np.linalg.norm(f[labels == 0].mean(0) - f[labels == 1].mean(0)))
            for f in layer_features))

    yield mean_gap
    del LAYER_SCORERS[('test_mean_gap', 'numpy')]


def test_a_registered_criterion_is_used_by_select_depth(class_mean_gap_criterion):
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    gaps = [0.0, 1.0, 4.0, 5.0, 3.0]
    layers = [rng.standard_normal((40, 6)) * 0.01 + gap * labels[:, None] for gap in gaps]
    selection = select_depth(layers, labels, criterion='test_mean_gap', backend='numpy',
                             scale=2.0)
    assert get_layer_scorer('test_mean_gap', 'numpy') is class_mean_gap_criterion
    np.testing.assert_allclose(selection.scores, 2 * np.array(gaps) * np.sqrt(6), atol=0.1)
    # T = 0.3 * 6 * sqrt(6): layer 2 (2 * sqrt(6)) is above it, layer 1 (0) is not.
    assert selection.kept_depth == 2
    assert (selection.criterion, selection.backend) == ('test_mean_gap', 'numpy')
    assert selection.embeddings is None
    with pytest.raises(TypeError, match='unexpected keyword'):
        select_depth(layers, labels, criterion='test_mean_gap', backend='numpy', scael=2.0)


def test_registering_the_same_pair_twice_is_refused(class_mean_gap_criterion):
    with pytest.raises(KeyError, match='already registered'):
        register_layer_scorer('test_mean_gap', 'numpy')(class_mean_gap_criterion)


def test_unknown_pairs_list_what_exists():
    with pytest.raises(ValueError, match="No scorer for criterion 'tsne_silhouette' with "
                                         "backend 'cuda'.*'tsne_silhouette'/'fast'"):
        get_layer_scorer('tsne_silhouette', 'cuda')
