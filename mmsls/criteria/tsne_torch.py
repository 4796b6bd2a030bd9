"""Exact t-SNE in torch, batched over layers (one optimisation for all layers at once).

Same objective and optimiser as sklearn's Barnes-Hut t-SNE: the input affinities come from each
point's ``3 * perplexity`` nearest neighbours with a per-point bandwidth matched to the perplexity,
and the optimiser is sklearn's gradient descent with gains and momentum (see :class:`TSNESettings`).
The difference is that the output-space forces are computed exactly over all pairs, which is what a
GPU does fastest: every iteration is a handful of dense (L, N, N) tensor operations on buffers
allocated once, with no host synchronisation until the loop ends.

Stages (what ``profile`` times): ``features`` (to one zero-padded float32 (L, N, C) tensor on the
device), ``affinities`` (neighbours and bandwidths of all layers at once), ``pca_init`` (top two
eigenvectors of the (C, C) covariances, float32, batched), ``optimise`` (the iterations).
"""
import time
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Sequence

import numpy as np
import torch

from .tsne_settings import TSNESettings

_BANDWIDTH_SEARCH_STEPS = 100  # as sklearn's binary search, with its tolerance below
_ENTROPY_TOLERANCE = 1e-5
_CONVERGENCE_CHECK_EVERY = 10  # bisection steps between two (synchronising) convergence checks
_INIT_STD = 1e-4  # sklearn rescales the PCA initialisation to this standard deviation
_INIT_JITTER = 1e-2  # seeded relative jitter of the initialisation, see tsne_embed_batched


def default_device() -> torch.device:
    """The first CUDA device when there is one, else the CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


@contextmanager
def exact_float32_matmul() -> Iterator[None]:
    """IEEE float32 matrix products inside, whatever the process chose (TF32 would leave 3
    significant digits in the ``|a|^2 + |b|^2 - 2 a.b`` squared distances used here)."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision('highest')
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def stack_features(layer_features: Sequence, device) -> torch.Tensor:
    """(L, N, C_max) float32 features on ``device``, layers with fewer channels zero-padded.

    Zero columns change neither distances nor the leading principal components, so layers of
    different widths (Swin stages) share one batched computation.
    """
    width = max(features.shape[1] for features in layer_features)
    stacked = torch.zeros(len(layer_features), layer_features[0].shape[0], width,
                          dtype=torch.float32, device=device)
    for layer, features in enumerate(layer_features):
        stacked[layer, :, :features.shape[1]] = torch.as_tensor(features).to(device,
                                                                            torch.float32)
    return stacked


def squared_distances(features: torch.Tensor) -> torch.Tensor:
    """(L, N, N) squared Euclidean distances within each layer, in float32."""
    centred = features - features.mean(1, keepdim=True)  # smaller norms, less cancellation
    sq_norm = centred.square().sum(-1)
    with exact_float32_matmul():
        sq_dist = torch.baddbmm(sq_norm[:, :, None] + sq_norm[:, None, :], centred,
                                centred.transpose(1, 2), alpha=-2)
    return sq_dist.clamp_min_(0)


def neighbour_affinities(features: torch.Tensor, perplexity: float) -> torch.Tensor:
    """Symmetric t-SNE input affinities P of every layer, as dense (L, N, N) matrices summing to 1.

    Args:
        features (torch.Tensor): (L, N, C) or (N, C) features (one layer).
        perplexity (float): Target perplexity of every point's conditional distribution.

    Returns:
        torch.Tensor: float32 P of the shape of the distances, ``p_ij = (p_j|i + p_i|j) / sum``,
        non-zero only between neighbours.
    """
    if features.dim() == 2:
        return neighbour_affinities(features[None], perplexity)[0]
    num_samples = features.shape[1]
    num_neighbours = min(num_samples - 1, int(3 * perplexity + 1))
    sq_dist = squared_distances(features.float())
    sq_dist.diagonal(dim1=1, dim2=2).fill_(float('inf'))
    neighbour_sq_dist, neighbour_index = sq_dist.topk(num_neighbours, dim=2, largest=False)
    conditional = match_perplexity(neighbour_sq_dist.double().flatten(0, 1), perplexity)
    conditional = conditional.view_as(neighbour_sq_dist).float()
    affinities = sq_dist.zero_().scatter_(2, neighbour_index, conditional)  # reuses the buffer
    affinities = affinities + affinities.transpose(1, 2)
    total = affinities.sum((1, 2), keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    return affinities.div_(total)


def match_perplexity(sq_dist: torch.Tensor, perplexity: float) -> torch.Tensor:
    """Row-wise Gaussian conditionals over neighbours whose entropy equals log(perplexity).

    Bisection on the precision ``beta`` of every row at once (rows are independent), as sklearn's
    ``_binary_search_perplexity``: at most 100 steps, entropy tolerance 1e-5, a row stops moving
    once it is within the tolerance. Whether all rows are done is checked every 10 steps only
    (each check waits for the device).

    Args:
        sq_dist (torch.Tensor): (R, K) squared distances of every point to its K neighbours,
            nearest first (R = points of all layers).
        perplexity (float): Target perplexity (``exp`` of the entropy in nats).

    Returns:
        torch.Tensor: (R, K) conditionals ``p_j|i``, each row summing to 1.
    """
    target_entropy = np.log(perplexity)
    # Shifting by the nearest distance leaves the normalised conditionals unchanged and keeps
    # exp() from underflowing for far neighbourhoods.
    shifted = sq_dist - sq_dist[:, :1]
    beta = torch.ones(sq_dist.shape[0], 1, dtype=sq_dist.dtype, device=sq_dist.device)
    beta_low = torch.full_like(beta, -float('inf'))
    beta_high = torch.full_like(beta, float('inf'))
    for step in range(_BANDWIDTH_SEARCH_STEPS):
        weights = torch.exp(-shifted * beta)
        conditional = weights / weights.sum(1, keepdim=True)
        entropy = -(conditional * torch.log(conditional.clamp_min(1e-300))).sum(1, keepdim=True)
        done = (entropy - target_entropy).abs() <= _ENTROPY_TOLERANCE
        if (step + 1) % _CONVERGENCE_CHECK_EVERY == 0 and bool(done.all()):
            break
        too_flat = entropy > target_entropy  # too many effective neighbours: sharpen
        beta_low = torch.where(too_flat, beta, beta_low)
        beta_high = torch.where(too_flat, beta_high, beta)
        moved = torch.where(too_flat,
                            torch.where(beta_high.isinf(), beta * 2, (beta + beta_high) / 2),
                            torch.where(beta_low.isinf(), beta / 2, (beta + beta_low) / 2))
        beta = torch.where(done, beta, moved)
    return conditional


def pca_init(features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """First two principal components of every layer, PC1 scaled to std 1e-4, seeded jitter.

    The components are the top two eigenvectors of the (C, C) covariance, in float32 and batched
    over layers (one ``eigh`` call instead of an SVD of every (N, C) layer). sklearn's randomized
    PCA makes its initialisation depend slightly on the seed; the jitter (1% of the scale) plays
    that role here, so that different seeds give independent runs.

    Args:
        features (torch.Tensor): (L, N, C) or (N, C) features.
        generator (torch.Generator): CPU generator of the jitter.

    Returns:
        torch.Tensor: float32 (L, N, 2) (or (N, 2)) initial embeddings on the features' device.
    """
    if features.dim() == 2:
        return pca_init(features[None], generator)[0]
    centred = features.float() - features.float().mean(1, keepdim=True)
    with exact_float32_matmul():
        covariance = centred.transpose(1, 2) @ centred
    _, eigenvectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    components = eigenvectors[..., [-1, -2]]  # (L, C, 2)
    # Fix the sign of each component (largest coefficient positive) for reproducibility.
    largest = components.abs().argmax(1, keepdim=True)
    components = components * torch.sign(components.gather(1, largest))
    with exact_float32_matmul():
        init = centred @ components
    scale = init[..., :1].std(1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    init = init / scale * _INIT_STD
    # Drawn in float64 as before the float32 rewrite, so a seed keeps its jitter.
    jitter = torch.randn(init.shape, generator=generator, dtype=torch.float64, device='cpu')
    return init + _INIT_JITTER * _INIT_STD * jitter.to(init.device, init.dtype)


def tsne_embed_batched(layer_features: Sequence[np.ndarray],
                       settings: TSNESettings,
                       seed: int = 0,
                       device=None,
                       profile: Optional[Dict[str, float]] = None) -> torch.Tensor:
    """2-D t-SNE embeddings of every layer, optimised together.

    Args:
        layer_features (Sequence[np.ndarray | torch.Tensor]): (N, C_l) features per layer (same
            N; C may differ).
        settings (TSNESettings): Perplexity (already reduced for small N), learning rate,
            schedule.
        seed (int): Seed of the initialisation jitter. Defaults to 0.
        device (str | torch.device, optional): Where to run. Defaults to CUDA when available.
        profile (dict, optional): If given, filled with the seconds of every stage (features,
            affinities, pca_init, optimise); the device is synchronised after each stage for
            that, so leave it None outside measurements.

    Returns:
        torch.Tensor: (L, N, 2) float32 embeddings on ``device``.
    """
    device = torch.device(device) if device is not None else default_device()
    timer = StageTimer(profile, device)
    features = stack_features(layer_features, device)
    timer.lap('features')
    affinities = neighbour_affinities(features, settings.perplexity)
    timer.lap('affinities')
    init = pca_init(features, torch.Generator().manual_seed(seed))
    del features
    timer.lap('pca_init')
    embedding = optimise_embedding(affinities, init, settings)
    timer.lap('optimise')
    return embedding


def optimise_embedding(affinities: torch.Tensor, embedding: torch.Tensor,
                       settings: TSNESettings) -> torch.Tensor:
    """sklearn's t-SNE iterations (gains, momentum, early exaggeration) on all layers at once.

    Args:
        affinities (torch.Tensor): (L, N, N) float32 input affinities P.
        embedding (torch.Tensor): (L, N, 2) float32 initial embeddings.
        settings (TSNESettings): Learning rate and schedule.

    Returns:
        torch.Tensor: The (L, N, 2) embeddings after ``settings.max_iter`` iterations.
    """
    update = torch.zeros_like(embedding)
    gains = torch.ones_like(embedding)
    # The two (L, N, N) work buffers of kl_gradient, allocated once.
    buffers = torch.empty_like(affinities), torch.empty_like(affinities)
    for iteration in range(settings.max_iter):
        early = iteration < settings.exaggeration_iter  # a Python int test: no device sync
        exaggeration = settings.early_exaggeration if early else 1.0
        momentum = 0.5 if early else 0.8
        grad = kl_gradient(embedding, affinities, exaggeration, buffers)
        # sklearn's update rule: gains grow where the step direction flips and shrink otherwise.
        flips = update * grad < 0
        gains = torch.where(flips, gains + 0.2, gains * 0.8).clamp_min_(0.01)
        update = momentum * update - settings.learning_rate * gains * grad
        embedding = embedding + update
    return embedding


def kl_gradient(embedding: torch.Tensor,
                affinities: torch.Tensor,
                exaggeration: float = 1.0,
                buffers=None) -> torch.Tensor:
    """Exact t-SNE gradient for (L, N, 2) embeddings and (L, N, N) P, early exaggeration e.

    ``dC/dy_i = 4 * sum_j (e * p_ij - q_ij) w_ij (y_i - y_j)`` (at e = 1, of KL(P || Q)) with
    ``w_ij = 1 / (1 + |y_i - y_j|^2)`` and ``q_ij = w_ij / Z``. The diagonal needs no masking:
    its terms are multiplied by ``y_i - y_i = 0``; only Z must leave out the ``w_ii = 1`` entries.
    ``1 + |y_i - y_j|^2`` comes from one product of (L, N, 4) rows and the forces
    ``F = (P - w / (e Z)) * w`` are formed element by element (attraction and repulsion cancel
    there, before any sum: summing them separately loses most digits of the small net force near
    convergence), then one product gives every ``sum_j F_ij (y_i - y_j)``. Every pass over
    (L, N, N) memory writes into ``buffers`` in place.

    Args:
        embedding (torch.Tensor): (L, N, 2) float32 points.
        affinities (torch.Tensor): (L, N, N) symmetric P.
        exaggeration (float): Factor on P (early exaggeration). Defaults to 1.
        buffers (tuple[torch.Tensor], optional): Two (L, N, N) work tensors like ``affinities``.
            Defaults to None (allocated here).

    Returns:
        torch.Tensor: (L, N, 2) gradient.
    """
    if buffers is None:
        buffers = torch.empty_like(affinities), torch.empty_like(affinities)
    kernel, forces = buffers
    num_samples = embedding.shape[1]
    centred = embedding - embedding.mean(1, keepdim=True)  # smaller norms, less cancellation
    sq_norm = centred.square().sum(-1, keepdim=True)
    ones = torch.ones_like(sq_norm)
    rows = torch.cat([centred, sq_norm + 1, ones], -1)
    columns = torch.cat([-2 * centred, ones, sq_norm], -1).transpose(1, 2)
    points = torch.cat([centred, ones], -1).transpose(1, 2).contiguous()  # (L, 3, N)
    with exact_float32_matmul():
        torch.bmm(rows, columns, out=kernel)  # 1 + |y_i - y_j|^2
        kernel.clamp_min_(1).reciprocal_()
        normaliser = kernel.sum((1, 2)) - num_samples
        scale = -1 / (exaggeration * normaliser)
        torch.addcmul(affinities, kernel, scale[:, None, None], out=forces).mul_(kernel)
        # F is symmetric: (points @ F)[:, c, i] = sum_j F_ij y_jc (c < 2) and sum_j F_ij (c = 2).
        products = torch.bmm(points, forces).transpose(1, 2)
    return 4 * exaggeration * (centred * products[..., 2:] - products[..., :2])


class StageTimer:
    """Seconds per stage into ``profile``, waiting for ``device`` at every lap; does nothing when
    ``profile`` is None."""

    def __init__(self, profile: Optional[Dict[str, float]], device: torch.device):
        self.profile = profile
        self.device = device
        self.start = self._now() if profile is not None else 0.0

    def _now(self) -> float:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.profile is None:
            return
        now = self._now()
        self.profile[stage] = now - self.start
        self.start = now
