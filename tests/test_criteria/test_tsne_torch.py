"""Exact batched t-SNE in torch: affinities by definition, gradient by autograd, it separates."""
import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from scipy.special import entr

from mmsls.criteria import TSNESettings
from mmsls.criteria.silhouette import batched_embedding_silhouette
from mmsls.criteria.synthetic import synthetic_layer_features
from mmsls.criteria.tsne_torch import (default_device, exact_float32_matmul, kl_gradient,
                                       match_perplexity, neighbour_affinities,
                                       optimise_embedding, pca_init, stack_features,
                                       tsne_embed_batched)

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def test_each_row_has_the_target_perplexity():
    rng = np.random.default_rng(0)
    sq_dist = np.sort(rng.uniform(0, 50, (20, 40)), axis=1)
    conditional = match_perplexity(torch.from_numpy(sq_dist), 10.0).numpy()
    np.testing.assert_allclose(conditional.sum(1), 1)
    entropy = -(conditional * np.log(conditional)).sum(1)
    np.testing.assert_allclose(np.exp(entropy), 10.0, rtol=1e-4)
    # The same row solved independently: a Gaussian whose precision gives entropy log(10).
    row = sq_dist[3]

    def entropy_gap(beta):
        p = np.exp(-beta * (row - row[0]))
        p /= p.sum()
        return entr(p).sum() - np.log(10.0)

    beta = brentq(entropy_gap, 1e-8, 1e3)
    expected = np.exp(-beta * (row - row[0]))
    np.testing.assert_allclose(conditional[3], expected / expected.sum(), atol=1e-5)


def test_affinities_are_symmetric_normalised_and_local():
    rng = np.random.default_rng(1)
    features = torch.from_numpy(rng.standard_normal((60, 5)))
    affinities = neighbour_affinities(features, perplexity=5.0)
    assert torch.allclose(affinities, affinities.T)
    assert affinities.sum().item() == pytest.approx(1.0)
    assert torch.all(affinities.diagonal() == 0)
    # Non-zero exactly between points where one is among the other's 16 = 3 * 5 + 1 neighbours.
    ranks = torch.cdist(features, features).fill_diagonal_(float('inf')).argsort(1).argsort(1)
    neighbours = ranks < 16
    assert torch.equal(affinities > 0, neighbours | neighbours.T)


def test_gradient_matches_autograd_of_the_kl_divergence():
    rng = np.random.default_rng(2)
    num_layers, num_samples = 3, 25
    affinities = torch.from_numpy(rng.uniform(0, 1, (num_layers, num_samples, num_samples)))
    affinities = affinities + affinities.transpose(1, 2)
    affinities.diagonal(dim1=1, dim2=2).zero_()
    affinities /= affinities.sum((1, 2), keepdim=True)
    embedding = torch.from_numpy(rng.standard_normal((num_layers, num_samples, 2)))
    embedding.requires_grad_(True)
    off_diagonal = ~torch.eye(num_samples, dtype=torch.bool)
    kernel = 1 / (1 + torch.cdist(embedding, embedding).square())
    q = kernel[:, off_diagonal] / kernel[:, off_diagonal].sum(1, keepdim=True)
    p = affinities[:, off_diagonal]
    kl = (p * torch.log(p / q)).sum()
    (expected,) = torch.autograd.grad(kl, embedding, retain_graph=True)
    got = kl_gradient(embedding.detach(), affinities)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)
    # Early exaggeration scales the attraction only: the objective is sum(e * p * -log w) + log Z
    # per layer (at e = 1 the KL divergence up to a constant).
    kernel = kernel[:, off_diagonal]
    cost = (12 * p * -torch.log(kernel)).sum() + torch.log(kernel.sum(1)).sum()
    (expected,) = torch.autograd.grad(cost, embedding)
    got = kl_gradient(embedding.detach(), affinities, exaggeration=12.0)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_layers_of_different_widths_are_batched_without_changing_them():
    rng = np.random.default_rng(3)
    narrow, wide = rng.standard_normal((50, 5)), rng.standard_normal((50, 9)) * 2 + 1
    stacked = stack_features([narrow, wide], 'cpu')
    assert stacked.shape == (2, 50, 9) and stacked.dtype == torch.float32
    batched = neighbour_affinities(stacked, perplexity=5.0)
    for layer, features in enumerate((narrow, wide)):
        alone = neighbour_affinities(torch.from_numpy(features), perplexity=5.0)
        torch.testing.assert_close(batched[layer], alone, rtol=1e-5, atol=1e-9)
    init = pca_init(stacked, torch.Generator().manual_seed(0))
    assert init.shape == (2, 50, 2) and init.dtype == torch.float32


def test_pca_init_is_the_leading_principal_components():
    rng = np.random.default_rng(4)
    # Distinct variances along random directions: the leading components are well defined.
    basis, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    features = (rng.standard_normal((200, 12)) * np.linspace(5, 0.5, 12)) @ basis.T + 3
    init = pca_init(torch.from_numpy(features).float(), torch.Generator().manual_seed(0)).double()
    centred = features - features.mean(0)
    _, _, right = np.linalg.svd(centred, full_matrices=False)
    for component in range(2):
        cosine = np.corrcoef(init[:, component].numpy(), centred @ right[component])[0, 1]
        assert abs(cosine) > 0.999
    # PC1 scaled to sklearn's standard deviation 1e-4 (up to the 1 % seeded jitter).
    assert init[:, 0].std().item() == pytest.approx(1e-4, rel=0.02)
    assert init[:, 1].std().item() < init[:, 0].std().item()


def test_tf32_setting_of_the_caller_is_overridden_and_restored():
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision('high')
    try:
        with exact_float32_matmul():
            assert torch.get_float32_matmul_precision() == 'highest'
        assert torch.get_float32_matmul_precision() == 'high'
    finally:
        torch.set_float32_matmul_precision(before)


def test_profile_times_every_stage():
    features, _ = synthetic_layer_features([0.0, 1.0], 40, 2, num_dims=6, seed=0)
    profile = {}
    tsne_embed_batched(features, TSNESettings(perplexity=5.0, max_iter=260), device='cpu',
                       profile=profile)
    assert list(profile) == ['features', 'affinities', 'pca_init', 'optimise']
    assert all(seconds >= 0 for seconds in profile.values())


def test_batched_embedding_separates_what_is_separable():
    features, labels = synthetic_layer_features([0.0, 1.0, 0.5], 150, 3, num_dims=16, seed=0)
    settings = TSNESettings(perplexity=15.0, max_iter=400)
    embeddings = tsne_embed_batched(features, settings, seed=0, device='cpu')
    assert embeddings.shape == (3, 150, 2) and embeddings.device.type == 'cpu'
    assert torch.all(torch.isfinite(embeddings))
    scores = batched_embedding_silhouette(embeddings, torch.from_numpy(labels))
    assert scores[0] < 0.1 and scores[1] > 0.8 and 0.2 < scores[2] < scores[1]
    # Seeds jitter the initialisation: a different seed gives a different (equally good) result.
    other = tsne_embed_batched(features, settings, seed=1, device='cpu')
    assert not torch.allclose(other, embeddings)
    repeat = tsne_embed_batched(features, settings, seed=0, device='cpu')
    assert torch.equal(repeat, embeddings)


def test_default_device_is_cuda_when_present():
    assert default_device().type == ('cuda' if torch.cuda.is_available() else 'cpu')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_the_iterations_never_wait_for_the_gpu():
    features, _ = synthetic_layer_features([0.0, 1.0], 200, 4, num_dims=32, seed=0)
    stacked = stack_features(features, 'cuda')
    affinities = neighbour_affinities(stacked, perplexity=10.0)
    init = pca_init(stacked, torch.Generator().manual_seed(0))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')  # any host synchronisation raises
    try:
        embedding = optimise_embedding(affinities, init, TSNESettings(max_iter=300))
    finally:
        torch.cuda.set_sync_debug_mode('default')
    assert torch.isfinite(embedding).all()
