"""Silhouette of an embedding against the class labels, as SLS scores a layer.

The embedding is min-max normalised per axis first (as the public SLS code does), then scored with
the silhouette coefficient ``mean_i (b_i - a_i) / max(a_i, b_i)`` of the points grouped by label.
"""
import numpy as np
import torch


def minmax_normalise(embedding: np.ndarray) -> np.ndarray:
    """Scale every axis of an (N, d) embedding to [0, 1]; an axis without spread becomes 0."""
    low = embedding.min(0)
    spread = embedding.max(0) - low
    return (embedding - low) / np.where(spread > 0, spread, 1)


def embedding_silhouette(embedding: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette (sklearn's) of the min-max normalised embedding against ``labels``.

    The distances are float64 whatever the embedding's dtype, as in the SLS authors' code (their
    normalised float32 points reach sklearn as float64); float32 distances differ by ~1e-8.
    """
    from sklearn.metrics import silhouette_score  # optional: the torch backend has its own
    return float(silhouette_score(minmax_normalise(embedding).astype(np.float64), labels))


def batched_embedding_silhouette(embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """:func:`embedding_silhouette` for (L, N, d) embeddings at once, on their device.

    Matches sklearn's definition, including ``s_i = 0`` for points alone in their class.

    Args:
        embeddings (torch.Tensor): (L, N, d) embeddings, not yet normalised.
        labels (torch.Tensor): (N,) integer labels.

    Returns:
        torch.Tensor: (L,) float64 silhouettes.
    """
    embeddings = embeddings.double()
    low = embeddings.amin(1, keepdim=True)
    spread = embeddings.amax(1, keepdim=True) - low
    normalised = (embeddings - low) / torch.where(spread > 0, spread, torch.ones_like(spread))
    _, class_index = torch.unique(labels, return_inverse=True)
    one_hot = torch.nn.functional.one_hot(class_index).to(normalised)
    class_sizes = one_hot.sum(0)
    # Summed distance from every point to every class: (L, N, C).
    distances = torch.cdist(normalised, normalised, compute_mode='donot_use_mm_for_euclid_dist')
    class_dist = distances @ one_hot
    own_class = class_index[None, :, None].expand(class_dist.shape[0], -1, 1)
    own_size = class_sizes[class_index]
    intra = class_dist.gather(2, own_class).squeeze(2) / (own_size - 1).clamp_min(1)
    mean_dist = class_dist / class_sizes
    inter = mean_dist.scatter(2, own_class, float('inf')).amin(2)
    silhouette = (inter - intra) / torch.maximum(intra, inter)
    silhouette = torch.where(own_size > 1, torch.nan_to_num(silhouette),
                             torch.zeros_like(silhouette))
    return silhouette.mean(1)
