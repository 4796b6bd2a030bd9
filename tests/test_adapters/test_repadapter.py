import pytest
import torch

from mmsls.adapters import RepAdapter
from mmsls.registry import MODELS


def test_published_init_is_identity():
    adapter = RepAdapter(embed_dims=16)
    assert adapter.down.weight.abs().sum() > 0  # xavier, not zero
    for param in (adapter.up.weight, adapter.up.bias, adapter.down.bias):
        assert torch.count_nonzero(param) == 0
    x = torch.randn(2, 5, 16)
    assert torch.equal(adapter.train()(x), x)


def test_up_projection_is_grouped():
    adapter = RepAdapter(embed_dims=16, hidden_dims=8, groups=2)
    assert adapter.up.weight.shape == (16, 4, 1)  # each output channel reads d/g = 4 hidden ones
    adapter.eval()
    with torch.no_grad():
        adapter.up.weight.normal_()
        adapter.down.weight.normal_()
        # Hidden channels 0-3 feed only outputs 0-7: perturbing them leaves outputs 8-15 alone.
        x = torch.randn(1, 3, 16)
        hidden = adapter.down(x)
        before = adapter.up(hidden.transpose(1, 2)).transpose(1, 2)
        hidden[..., :4] += 1.0
        changed = adapter.up(hidden.transpose(1, 2)).transpose(1, 2) - before
    assert changed[..., :8].abs().min() > 0
    assert torch.equal(changed[..., 8:], torch.zeros_like(changed[..., 8:]))


@pytest.mark.parametrize('scale', [0.1, 1.0, 5.0])
def test_affine_equals_forward_in_eval(scale):
    adapter = RepAdapter(embed_dims=24, hidden_dims=8, groups=4, scale=scale).eval()
    with torch.no_grad():
        for param in adapter.parameters():
            param.copy_(torch.randn_like(param))
    x = torch.randn(3, 7, 24)
    weight, bias = adapter.affine()
    with torch.no_grad():
        expected = adapter(x)
        folded = x @ weight.T + bias
    assert (expected - folded).norm() / expected.norm() < 1e-5


def test_dropout_acts_between_projections_in_training():
    adapter = RepAdapter(embed_dims=16, dropout=0.5)
    with torch.no_grad():
        for param in adapter.parameters():
            param.copy_(torch.randn_like(param))
    x = torch.randn(2, 50, 16)
    assert not torch.allclose(adapter.train()(x), adapter.eval()(x))


def test_bad_groups_and_shapes_are_explained():
    with pytest.raises(ValueError, match='groups=3 must divide both hidden_dims=8'):
        RepAdapter(embed_dims=16, groups=3)
    with pytest.raises(ValueError, match=r'tokens of shape \(B, N, 16\)'):
        RepAdapter(embed_dims=16)(torch.randn(2, 16))


def test_registered():
    adapter = MODELS.build(dict(type='RepAdapter', embed_dims=16, scale=0.5))
    assert isinstance(adapter, RepAdapter) and adapter.scale == 0.5
