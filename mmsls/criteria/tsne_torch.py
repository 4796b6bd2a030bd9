"""Exact t-SNE in torch, batched over layers (one optimisation for all layers at once).

Same objective and optimiser as sklearn's Barnes-Hut t-SNE: the input affinities come from each
point's ``3 * perplexity`` nearest neighbours with a per-point bandwidth matched to the perplexity,
and the optimiser is sklearn's gradient descent with gains and momentum (see :class:`TSNESettings`).
The difference is that the output-space forces are computed exactly over all pairs, which is what a
GPU does fastest: every iteration is a handful of dense (L, N, N) tensor operations.
"""
from typing import Sequence

import numpy as np
import torch

from .tsne_settings import TSNESettings

_BANDWIDTH_SEARCH_STEPS = 100  # as sklearn's binary search, with its tolerance below
_ENTROPY_TOLERANCE = 1e-5
_INIT_STD = 1e-4  # sklearn rescales the PCA initialisation to this standard deviation
_INIT_JITTER = 1e-2  # seeded relative jitter of the initialisation, see tsne_embed_batched


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def neighbour_affinities(features: torch.Tensor, perplexity: float) -> torch.Tensor:
    """Symmetric t-SNE input affinities P of one layer, as a dense (N, N) matrix summing to 1.

    Args:
        features (torch.Tensor): (N, C) features of one layer.
        perplexity (float): Target perplexity of every point's conditional distribution.

    Returns:
        torch.Tensor: P with ``p_ij = (p_j|i + p_i|j) / sum``, non-zero only between neighbours.
    """
    num_samples = features.shape[0]
    num_neighbours = min(num_samples - 1, int(3 * perplexity + 1))
    features = features.double()
    sq_dist = torch.cdist(features, features).square_()
    sq_dist.fill_diagonal_(float('inf'))
    neighbour_sq_dist, neighbour_index = sq_dist.topk(num_neighbours, dim=1, largest=False)
    conditional = match_perplexity(neighbour_sq_dist, perplexity)
    affinities = torch.zeros_like(sq_dist).scatter_(1, neighbour_index, conditional)
    affinities = affinities + affinities.T
    return affinities / affinities.sum().clamp_min(torch.finfo(torch.float64).eps)


def match_perplexity(sq_dist: torch.Tensor, perplexity: float) -> torch.Tensor:
    """Row-wise Gaussian conditionals over neighbours whose entropy equals log(perplexity).

    Bisection on the precision ``beta`` of every row at once (rows are independent), as sklearn's
    ``_binary_search_perplexity``: at most 100 steps, entropy tolerance 1e-5.

    Args:
        sq_dist (torch.Tensor): (N, K) squared distances of every point to its K neighbours,
            nearest first.
        perplexity (float): Target perplexity (``exp`` of the entropy in nats).

    Returns:
        torch.Tensor: (N, K) conditionals ``p_j|i``, each row summing to 1.
    """
    target_entropy = np.log(perplexity)
    beta = torch.ones(sq_dist.shape[0], 1, dtype=sq_dist.dtype, device=sq_dist.device)
    beta_low = torch.full_like(beta, -float('inf'))
    beta_high = torch.full_like(beta, float('inf'))
    for _ in range(_BANDWIDTH_SEARCH_STEPS):
        # Shifting by the nearest distance leaves the normalised conditionals unchanged and keeps
        # exp() from underflowing for far neighbourhoods.
        weights = torch.exp(-(sq_dist - sq_dist[:, :1]) * beta)
        conditional = weights / weights.sum(1, keepdim=True)
        entropy = -(conditional * torch.log(conditional.clamp_min(1e-300))).sum(1, keepdim=True)
        if torch.all((entropy - target_entropy).abs() <= _ENTROPY_TOLERANCE):
            break
        too_flat = entropy > target_entropy  # too many effective neighbours: sharpen
        beta_low = torch.where(too_flat, beta, beta_low)
        beta_high = torch.where(too_flat, beta_high, beta)
        beta = torch.where(too_flat,
                           torch.where(beta_high.isinf(), beta * 2, (beta + beta_high) / 2),
                           torch.where(beta_low.isinf(), beta / 2, (beta + beta_low) / 2))
    return conditional


def pca_init(features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """First two principal components, PC1 scaled to std 1e-4, with a small seeded jitter.

    sklearn's randomized PCA makes its initialisation depend slightly on the seed; the jitter
    (1% of the scale) plays that role here, so that different seeds give independent runs.
    """
    centred = features.double() - features.double().mean(0)
    _, _, right = torch.linalg.svd(centred, full_matrices=False)
    components = right[:2]
    # Fix the sign of each component (largest coefficient positive) for reproducibility.
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    init = centred @ (components * signs).T
    init = init / init[:, 0].std() * _INIT_STD
    jitter = torch.randn(init.shape, generator=generator, dtype=init.dtype, device='cpu')
    return init + _INIT_JITTER * _INIT_STD * jitter.to(init.device)


def tsne_embed_batched(layer_features: Sequence[np.ndarray],
                       settings: TSNESettings,
                       seed: int = 0,
                       device=None) -> torch.Tensor:
    """2-D t-SNE embeddings of every layer, optimised together.

    Args:
        layer_features (Sequence[np.ndarray]): (N, C_l) features per layer (same N).
        settings (TSNESettings): Perplexity (already reduced for small N), learning rate,
            schedule.
        seed (int): Seed of the initialisation jitter. Defaults to 0.
        device (str | torch.device, optional): Where to run. Defaults to CUDA when available.

    Returns:
        torch.Tensor: (L, N, 2) float32 embeddings on ``device``.
    """
    device = torch.device(device) if device is not None else default_device()
    generator = torch.Generator().manual_seed(seed)
    affinities, init = [], []
    for features in layer_features:
        features = torch.as_tensor(features, device=device)
        affinities.append(neighbour_affinities(features, settings.perplexity).float())
        init.append(pca_init(features, generator).float())
    affinities, embedding = torch.stack(affinities), torch.stack(init)
    update = torch.zeros_like(embedding)
    gains = torch.ones_like(embedding)
    affinities *= settings.early_exaggeration
    for iteration in range(settings.max_iter):
        if iteration == settings.exaggeration_iter:
            affinities /= settings.early_exaggeration
        momentum = 0.5 if iteration < settings.exaggeration_iter else 0.8
        grad = kl_gradient(embedding, affinities)
        # sklearn's update rule: gains grow where the step direction flips and shrink otherwise.
        flips = update * grad < 0
        gains = torch.where(flips, gains + 0.2, gains * 0.8).clamp_min_(0.01)
        update = momentum * update - settings.learning_rate * gains * grad
        embedding = embedding + update
    return embedding


def kl_gradient(embedding: torch.Tensor, affinities: torch.Tensor) -> torch.Tensor:
    """Exact gradient of KL(P || Q) for (L, N, 2) embeddings and (L, N, N) affinities P.

    ``dC/dy_i = 4 * sum_j (p_ij - q_ij) w_ij (y_i - y_j)`` with ``w_ij = 1 / (1 + |y_i - y_j|^2)``
    and ``q_ij = w_ij / Z``. The diagonal needs no masking: its terms are multiplied by
    ``y_i - y_i = 0``; only Z must leave out the ``w_ii = 1`` entries.
    """
    sq_norm = embedding.square().sum(-1)
    kernel = torch.baddbmm(sq_norm[:, :, None] + sq_norm[:, None, :], embedding,
                           embedding.transpose(1, 2), alpha=-2)
    kernel = kernel.clamp_min_(0).add_(1).reciprocal_()
    normaliser = kernel.sum((1, 2), keepdim=True) - embedding.shape[1]
    forces = kernel * (affinities - kernel / normaliser)
    # One product gives both sum_j f_ij y_j and sum_j f_ij.
    weighted = torch.bmm(forces, torch.cat([embedding, torch.ones_like(embedding[..., :1])], -1))
    return 4 * (embedding * weighted[..., 2:] - weighted[..., :2])
