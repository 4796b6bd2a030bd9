import pytest
import torch
import torch.nn.functional as F

from mmsls.adapters import Convpass, QuickGELU
from mmsls.registry import MODELS


def _randomized(adapter):
    with torch.no_grad():
        for param in adapter.parameters():
            param.copy_(torch.randn_like(param) * 0.3)
    return adapter.eval()


def test_published_init():
    adapter = Convpass(embed_dims=16)
    assert torch.count_nonzero(adapter.up.weight) == 0 and torch.count_nonzero(adapter.up.bias) == 0
    assert torch.count_nonzero(adapter.down.bias) == 0
    assert torch.count_nonzero(adapter.conv.bias) == 0
    assert adapter.down.weight.abs().sum() > 0 and adapter.conv.weight.abs().sum() > 0
    assert torch.equal(adapter(torch.randn(2, 1 + 12, 16), (3, 4)), torch.zeros(2, 13, 16))

    identity = Convpass(embed_dims=16, xavier_init=False).conv.weight.detach().clone()
    assert torch.equal(identity[:, :, 1, 1], torch.eye(8))
    identity[:, :, 1, 1] = 0
    assert torch.count_nonzero(identity) == 0


def test_forward_matches_the_published_computation():
    adapter = _randomized(Convpass(embed_dims=16, scale=0.5))
    x = torch.randn(2, 1 + 3 * 4, 16)
    hidden = QuickGELU()(adapter.down(x))
    patches = hidden[:, 1:].reshape(2, 3, 4, 8).permute(0, 3, 1, 2)  # row-major grid
    patches = adapter.conv(patches).permute(0, 2, 3, 1).reshape(2, 12, 8)
    cls = adapter.conv(hidden[:, :1].reshape(2, 1, 1, 8).permute(0, 3, 1, 2)).reshape(2, 1, 8)
    expected = 0.5 * adapter.up(QuickGELU()(torch.cat([cls, patches], dim=1)))
    with torch.no_grad():
        assert torch.allclose(adapter(x, (3, 4)), expected, atol=1e-6)


def test_extra_tokens_are_deduced_from_the_grid():
    adapter = _randomized(Convpass(embed_dims=16))
    patches = torch.randn(2, 6, 16)
    extra = torch.randn(2, 2, 16)  # e.g. DeiT's class and distillation tokens
    with torch.no_grad():
        with_extra = adapter(torch.cat([extra, patches], dim=1), (2, 3))
        alone = adapter(patches, (2, 3))
    assert torch.allclose(with_extra[:, 2:], alone, atol=1e-6)


def test_quick_gelu():
    x = torch.randn(100)
    assert torch.allclose(QuickGELU()(x), x * torch.sigmoid(1.702 * x))
    assert (QuickGELU()(x) - F.gelu(x)).abs().max() < 0.03


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match='fewer than the 4x4 patch grid'):
        Convpass(embed_dims=16)(torch.randn(1, 10, 16), (4, 4))
    with pytest.raises(ValueError, match=r'tokens of shape \(B, N, 16\)'):
        Convpass(embed_dims=16)(torch.randn(1, 10, 8), (2, 5))


def test_registered():
    assert isinstance(MODELS.build(dict(type='Convpass', embed_dims=16)), Convpass)
