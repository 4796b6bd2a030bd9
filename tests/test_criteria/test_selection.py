"""select_depth's contract: the result object, and every bad input refused before any work."""
import dataclasses

import numpy as np
import pytest

from mmsls.criteria import DepthSelection, select_depth


def noise_layers(num_samples=40, num_layers=2, num_classes=4):
    rng = np.random.default_rng(0)
    labels = np.arange(num_samples) % num_classes
    return [rng.standard_normal((num_samples, 6)) for _ in range(num_layers)], labels


def test_result_is_a_frozen_record_of_the_decision():
    selection = DepthSelection(kept_depth=2, scores=(0.1, 0.5, 0.6), threshold=0.18, alpha=0.3,
                               backend='sklearn', criterion='tsne_silhouette')
    assert selection.num_layers == 3 and selection.embeddings is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        selection.kept_depth = 3


def with_nan(layers, labels):
    layers[1][3, 2] = np.nan
    return layers, labels


def with_inf(layers, labels):
    layers[0][0, 0] = np.inf
    return layers, labels


@pytest.mark.parametrize('corrupt, error, message', [
    (lambda layers, labels: (layers, np.zeros_like(labels)), ValueError, 'at least 2 classes'),
    (lambda layers, labels: (layers, labels[:-1]), ValueError, 'Layer 1 has 40 samples but'),
    (lambda layers, labels: ([layers[0], layers[1][:30]], labels), ValueError, 'Layer 2 has 30'),
    (with_nan, ValueError, 'Layer 2: features contain NaN or inf'),
    (with_inf, ValueError, 'Layer 1: features contain NaN or inf'),
    (lambda layers, labels: ([], labels), ValueError, 'layer_features is empty'),
    (lambda layers, labels: (layers, labels.astype(float)), TypeError, 'labels must be integers'),
])
def test_bad_inputs_are_refused(corrupt, error, message):
    layers, labels = corrupt(*noise_layers())
    with pytest.raises(error, match=message):
        select_depth(layers, labels)


@pytest.mark.parametrize('alpha', [0.0, 1.5, -0.3])
def test_alpha_outside_the_unit_interval_is_refused(alpha):
    with pytest.raises(ValueError, match=r'alpha must be in \(0, 1\]'):
        select_depth(*noise_layers(), alpha=alpha)


@pytest.mark.parametrize('seed', [1.5, '0', None])
def test_seed_must_be_an_int(seed):
    with pytest.raises(TypeError, match='seed must be an int'):
        select_depth(*noise_layers(), seed=seed)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="No scorer for criterion 'tsne_silhouette' with backend "
                                         "'gpu'"):
        select_depth(*noise_layers(), backend='gpu')


def test_unknown_backend_option_is_refused():
    with pytest.raises(TypeError, match='num_workers'):
        select_depth(*noise_layers(), backend='sklearn', num_workers=2)
