"""The analysis runs where the model is: the criterion's device and 'auto' follow the model."""
import pytest
import torch
from torch import nn

from mmsls.analysis import analyze_layers
from mmsls.analysis.layer_analysis import model_device
from mmsls.criteria import TSNESettings
from .conftest import tiny_model_and_dataset

SHORT_TSNE = TSNESettings(perplexity=5.0, max_iter=260)


def test_model_device_is_where_its_weights_are():
    assert model_device(nn.Linear(2, 2)) == torch.device('cpu')
    assert model_device(nn.Linear(2, 2, device='meta')) == torch.device('meta')
    buffers_only = nn.BatchNorm1d(3, affine=False).to('meta')
    assert model_device(buffers_only) == torch.device('meta')
    assert model_device(nn.ReLU()) == torch.device('cpu')  # nothing to go by


@pytest.mark.parametrize('backend, expected', [('auto', 'sklearn'), ('torch', 'torch')])
def test_backend_follows_the_model_on_cpu(tiny_data_dir, backend, expected):
    model, dataset, _ = tiny_model_and_dataset('mmpretrain', tiny_data_dir, adapted=True)
    analysis = analyze_layers(model.to('cpu'), dataset, num_samples=24, backend=backend,
                              criterion_options=dict(tsne=SHORT_TSNE), progress=False)
    assert analysis.selection.backend == expected
    assert analysis.to_dict()['backend'] == expected  # the report names what ran
    assert len(analysis.scores) == 4


def test_an_explicit_criterion_device_wins(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmpretrain', tiny_data_dir, adapted=True)
    # 'auto' with the criterion sent to CUDA by name picks the torch backend; without a GPU its
    # run then fails on the device, which shows the option reached it.
    if torch.cuda.is_available():
        pytest.skip('checks the error path of a machine without CUDA')
    with pytest.raises((RuntimeError, AssertionError), match='(?i)cuda|nvidia'):
        analyze_layers(model, dataset, num_samples=24, backend='auto',
                       criterion_options=dict(device='cuda', tsne=SHORT_TSNE), progress=False)
