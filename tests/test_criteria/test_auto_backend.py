"""backend='auto': the torch backend on CUDA, the reference elsewhere; the device decides."""
import numpy as np
import pytest
import torch

from mmsls.criteria import TSNESettings, resolve_backend, select_depth
from mmsls.criteria.synthetic import synthetic_layer_features

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.mark.parametrize('device, expected', [('cpu', 'sklearn'), (torch.device('cpu'), 'sklearn'),
                                              ('cuda', 'torch'), ('cuda:1', 'torch')])
def test_the_device_decides(device, expected):
    # Only the device's type is read: naming a CUDA device needs no GPU here.
    assert resolve_backend('tsne_silhouette', device) == expected


def test_without_a_device_cuda_availability_decides():
    expected = 'torch' if torch.cuda.is_available() else 'sklearn'
    assert resolve_backend('tsne_silhouette') == expected


def test_criteria_without_a_torch_backend_get_their_reference():
    assert resolve_backend('raw_silhouette', 'cuda') == 'sklearn'
    assert resolve_backend('linear_probe', 'cuda') == 'numpy'  # its only backend


def test_unknown_criterion_is_named():
    with pytest.raises(ValueError, match="'no_such_criterion'.*available"):
        resolve_backend('no_such_criterion', 'cpu')


def test_auto_on_cpu_is_the_reference_run():
    features, labels = synthetic_layer_features([0.0, 1.0, 0.5], 60, 3, num_dims=8, seed=1)
    tsne = TSNESettings(perplexity=10.0, max_iter=300)
    auto = select_depth(features, labels, backend='auto', device='cpu', tsne=tsne, seed=3)
    reference = select_depth(features, labels, backend='sklearn', tsne=tsne, seed=3)
    assert auto.backend == 'sklearn'
    assert auto.scores == reference.scores and auto.kept_depth == reference.kept_depth
    assert auto.scores[1] > 0.5  # a real run: the separated layer separates
