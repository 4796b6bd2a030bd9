"""SLS's layer score: silhouette of the class labels in a 2-D t-SNE of the layer's features.

Three backends of the same criterion (registered as ``'tsne_silhouette'``):

- ``'sklearn'``: the reference. ``sklearn.manifold.TSNE`` with the paper's settings
  (:class:`TSNESettings` defaults), one layer after the other: the SLS authors' call bit for bit.
- ``'fast'``: the same sklearn t-SNE with a cheaper optimisation (:data:`FAST_TSNE`,
  :data:`FAST_ANGLE`), layers in parallel on one single-threaded worker per core.
  docs/criteria.md has its measured agreement (same kept depth on every case measured, scores
  lower by up to 0.17 on real features).
- ``'torch'``: exact-gradient t-SNE in torch, all layers in one batched optimisation; for GPUs
  (it also runs, slowly, on the CPU).
"""
import dataclasses
from typing import List, Optional, Sequence

import numpy as np
import torch

from mmsls.compat import require
from .scorers import LayerScores, register_layer_scorer
from .silhouette import batched_embedding_silhouette, embedding_silhouette
from .tsne_settings import TSNESettings, effective_perplexity
from .tsne_torch import StageTimer, default_device, tsne_embed_batched

CRITERION = 'tsne_silhouette'

# The 'fast' backend's optimisation: the reference's, stopped after 400 of its 1000 iterations,
# with a coarser Barnes-Hut angle (0.65 instead of 0.5). docs/criteria.md has the measurements:
# same kept depth on every case measured; scores within 0.05 on the synthetic cases, up to 0.17
# lower on the demo's real features.
FAST_TSNE = TSNESettings(max_iter=400)
FAST_ANGLE = 0.65


def _for_sample(settings: TSNESettings, num_samples: int) -> TSNESettings:
    """``settings`` with the perplexity reduced where the sample is too small for it."""
    perplexity = effective_perplexity(settings.perplexity, num_samples)
    return dataclasses.replace(settings, perplexity=perplexity)


def _scores_of(embeddings: Sequence[np.ndarray], labels: np.ndarray,
               return_embeddings: bool) -> LayerScores:
    scores = tuple(embedding_silhouette(embedding, labels) for embedding in embeddings)
    return LayerScores(scores, tuple(embeddings) if return_embeddings else None)


@register_layer_scorer(CRITERION, 'sklearn')
def sklearn_tsne_silhouette(layer_features: List[np.ndarray],
                            labels: np.ndarray,
                            *,
                            seed: int,
                            return_embeddings: bool,
                            tsne: TSNESettings = TSNESettings(),
                            num_threads: Optional[int] = 1) -> LayerScores:
    """Reference scores: sklearn t-SNE per layer, sequentially, with the paper's settings.

    Args:
        layer_features (list[np.ndarray]): Checked (N, C_l) features per layer.
        labels (np.ndarray): (N,) integer labels.
        seed (int): TSNE's ``random_state``.
        return_embeddings (bool): Whether to return the (N, 2) embeddings.
        tsne (TSNESettings): The t-SNE settings. Defaults to the paper's.
        num_threads (int, optional): Threads of sklearn's gradient. Defaults to 1 (reproducible
            on any machine, see :mod:`mmsls.criteria.tsne_sklearn`); None for sklearn's default.

    Returns:
        LayerScores: One silhouette per layer.
    """
    require('sklearn', 'scikit-learn', "select_depth(backend='sklearn')")
    from .tsne_sklearn import sequential_sklearn_tsne_embed
    settings = _for_sample(tsne, labels.size)
    embeddings = sequential_sklearn_tsne_embed(layer_features, settings, seed, num_threads)
    return _scores_of(embeddings, labels, return_embeddings)


@register_layer_scorer(CRITERION, 'fast')
def fast_tsne_silhouette(layer_features: List[np.ndarray],
                         labels: np.ndarray,
                         *,
                         seed: int,
                         return_embeddings: bool,
                         tsne: TSNESettings = FAST_TSNE,
                         angle: float = FAST_ANGLE,
                         num_workers: Optional[int] = None) -> LayerScores:
    """Fast CPU scores: cheaper sklearn t-SNE, layers in parallel on single-threaded workers.

    Args:
        layer_features (list[np.ndarray]): Checked (N, C_l) features per layer.
        labels (np.ndarray): (N,) integer labels.
        seed (int): TSNE's ``random_state``.
        return_embeddings (bool): Whether to return the (N, 2) embeddings.
        tsne (TSNESettings): The t-SNE settings. Defaults to :data:`FAST_TSNE`.
        angle (float): Barnes-Hut opening angle. Defaults to :data:`FAST_ANGLE`.
        num_workers (int, optional): Worker threads. Defaults to the available cores; with one,
            the layers run one after the other on the calling thread.

    Returns:
        LayerScores: One silhouette per layer.
    """
    require('sklearn', 'scikit-learn', "select_depth(backend='fast')")
    from .tsne_sklearn import parallel_sklearn_tsne_embed
    settings = _for_sample(tsne, labels.size)
    embeddings = parallel_sklearn_tsne_embed(layer_features, settings, seed, angle, num_workers)
    return _scores_of(embeddings, labels, return_embeddings)


@register_layer_scorer(CRITERION, 'torch')
def torch_tsne_silhouette(layer_features: List[np.ndarray],
                          labels: np.ndarray,
                          *,
                          seed: int,
                          return_embeddings: bool,
                          tsne: TSNESettings = TSNESettings(),
                          device=None,
                          profile: Optional[dict] = None) -> LayerScores:
    """Scores from the batched exact t-SNE in torch, silhouettes computed on the same device.

    Args:
        layer_features (list[np.ndarray]): Checked (N, C_l) features per layer.
        labels (np.ndarray): (N,) integer labels.
        seed (int): Seed of the initialisation jitter.
        return_embeddings (bool): Whether to return the (N, 2) embeddings.
        tsne (TSNESettings): The t-SNE settings. Defaults to the paper's.
        device (str | torch.device, optional): Defaults to CUDA when available, else the CPU.
        profile (dict, optional): If given, filled with the seconds of every stage (those of
            :func:`tsne_embed_batched`, then ``silhouette``); for benchmarks only (each stage
            waits for the device).

    Returns:
        LayerScores: One silhouette per layer.
    """
    device = torch.device(device) if device is not None else default_device()
    settings = _for_sample(tsne, labels.size)
    embeddings = tsne_embed_batched(layer_features, settings, seed, device, profile)
    timer = StageTimer(profile, device)
    scores = batched_embedding_silhouette(embeddings, torch.as_tensor(labels, device=device))
    timer.lap('silhouette')
    embeddings = tuple(embeddings.double().cpu().numpy()) if return_embeddings else None
    return LayerScores(tuple(scores.tolist()), embeddings)
