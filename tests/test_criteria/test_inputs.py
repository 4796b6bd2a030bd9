"""Input checks shared by all criteria: every bad input gets an error that names it."""
import numpy as np
import pytest
import torch

from mmsls.criteria import check_layer_inputs


def good_inputs(num_samples=30, num_layers=3):
    rng = np.random.default_rng(0)
    layers = [rng.standard_normal((num_samples, 8)).astype(np.float32) for _ in range(num_layers)]
    return layers, np.arange(num_samples) % 3


def test_good_inputs_pass_through_as_numpy():
    layers, labels = good_inputs()
    # Channel counts may differ between layers (Swin stages), and torch tensors are accepted.
    layers[1] = torch.from_numpy(np.random.default_rng(1).standard_normal((30, 16)))
    layers[2] = np.arange(30 * 4).reshape(30, 4)  # integer features become floating point
    checked, checked_labels = check_layer_inputs(layers, torch.as_tensor(labels))
    assert [f.shape for f in checked] == [(30, 8), (30, 16), (30, 4)]
    assert [f.dtype for f in checked] == [np.float32, np.float64, np.float64]
    np.testing.assert_array_equal(checked[1], layers[1].numpy())
    np.testing.assert_array_equal(checked_labels, labels)


@pytest.mark.parametrize('labels, error, message', [
    (np.zeros(30, dtype=int), ValueError, 'at least 2'),
    (np.arange(30), ValueError, 'fewer classes than samples'),
    (np.zeros((30, 1), dtype=int), ValueError, 'labels must be 1-D'),
    (np.linspace(0, 2, 30), TypeError, 'labels must be integers'),
    (np.arange(29) % 3, ValueError, 'Layer 1 has 30 samples but labels has 29'),
])
def test_bad_labels_are_refused(labels, error, message):
    layers, _ = good_inputs()
    with pytest.raises(error, match=message):
        check_layer_inputs(layers, labels)


@pytest.mark.parametrize('bad_value', [np.nan, np.inf, -np.inf])
def test_non_finite_features_are_refused(bad_value):
    layers, labels = good_inputs()
    layers[2][4, 5] = bad_value
    with pytest.raises(ValueError, match='Layer 3: features contain NaN or inf'):
        check_layer_inputs(layers, labels)


def test_layers_with_different_sample_counts_are_refused():
    layers, labels = good_inputs()
    layers[1] = layers[1][:-1]
    with pytest.raises(ValueError, match='Layer 2 has 29 samples but labels has 30'):
        check_layer_inputs(layers, labels)


@pytest.mark.parametrize('make_layers, error, message', [
    (lambda layers: [], ValueError, 'layer_features is empty'),
    (lambda layers: layers[0], ValueError, 'got a single 2-D array'),
    (lambda layers: torch.from_numpy(layers[0]), ValueError, 'got a single 2-D array'),
    (lambda layers: [layers[0][:, 0]], ValueError, r'must be \(N, C\)'),
    (lambda layers: [layers[0][:, :0]], ValueError, r'must be \(N, C\) with C >= 1'),
    (lambda layers: [np.stack(layers, 2)], ValueError, r'must be \(N, C\)'),
    (lambda layers: [layers[0].astype(str)], TypeError, 'must be real numbers'),
    (lambda layers: [layers[0].astype(complex)], TypeError, 'must be real numbers'),
])
def test_malformed_features_are_refused(make_layers, error, message):
    layers, labels = good_inputs()
    with pytest.raises(error, match=message):
        check_layer_inputs(make_layers(layers), labels)
