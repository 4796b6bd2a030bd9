"""``select_depth``: per-layer features + labels -> how many layers to keep."""
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from .depth_rule import check_alpha, depth_from_scores
from .inputs import check_layer_inputs, flat_layers
from .scorers import LAYER_SCORERS, get_layer_scorer

AUTO_BACKEND = 'auto'
REFERENCE_BACKEND = 'sklearn'
GPU_BACKEND = 'torch'


@dataclass(frozen=True)
class DepthSelection:
    """The outcome of a depth criterion.

    Args:
        kept_depth (int): Number of layers to keep (layers ``kept_depth + 1 .. L`` are pruned).
        scores (tuple[float]): Per-layer scores, layer 1 first.
        threshold (float): ``alpha * scores[-1]``: the walk down from the top layer stops at the
            first layer scoring below it.
        alpha (float): The threshold fraction used.
        backend (str): The backend that computed the scores (what ``'auto'`` resolved to).
        criterion (str): The criterion that computed the scores.
        embeddings (tuple[np.ndarray], optional): Per-layer (N, 2) embeddings when they were asked
            for (``return_embeddings=True``) and the criterion has them; for plots.
    """

    kept_depth: int
    scores: Tuple[float, ...]
    threshold: float
    alpha: float
    backend: str
    criterion: str
    embeddings: Optional[Tuple[np.ndarray, ...]] = None

    @property
    def num_layers(self) -> int:
        """Number of layers that were scored."""
        return len(self.scores)


def select_depth(layer_features: Sequence,
                 labels,
                 alpha: float = 0.3,
                 backend: str = 'sklearn',
                 seed: int = 0,
                 *,
                 criterion: str = 'tsne_silhouette',
                 return_embeddings: bool = False,
                 **options) -> DepthSelection:
    """Choose the kept depth of a model from its per-layer features, as SLS does.

    Every layer is scored by ``criterion`` (by default SLS's: silhouette of the labels in a 2-D
    t-SNE of the layer's features), then :func:`depth_from_scores` walks down from the top layer
    with the threshold ``alpha * score of the top layer``.

    Args:
        layer_features (Sequence[array-like]): One (N, C_l) array per layer, layer 1 first (same
            N everywhere; C may vary, e.g. across Swin stages). numpy arrays or CPU tensors.
        labels (array-like): (N,) integer class labels, at least 2 classes.
        alpha (float): Threshold fraction in (0, 1]. Defaults to 0.3 (the paper's).
        backend (str): Implementation of the criterion. For ``'tsne_silhouette'``: ``'sklearn'``
            (the reference), ``'fast'`` (parallel CPU workers, cheaper optimisation, same kept
            depth on our benchmarks), ``'torch'`` (batched exact t-SNE, for GPUs) or ``'auto'``
            (see :func:`resolve_backend`: ``'torch'`` on CUDA, else the reference).
            Defaults to ``'sklearn'``.
        seed (int): Seed of the criterion's randomness (t-SNE's initialisation). Defaults to 0.
        criterion (str): Registered criterion name. Defaults to ``'tsne_silhouette'``.
        return_embeddings (bool): Keep the per-layer 2-D embeddings in the result.
            Defaults to False.
        **options: Backend-specific options, e.g. ``tsne=TSNESettings(...)``, ``num_workers``
            ('fast') or ``device`` ('torch').

    Returns:
        DepthSelection: The kept depth, per-layer scores and threshold.
    """
    check_alpha(alpha)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f'seed must be an int, got {type(seed).__name__}.')
    if backend == AUTO_BACKEND:
        backend = resolve_backend(criterion, options.get('device'))
        if backend != GPU_BACKEND:
            options.pop('device', None)  # the reference runs on the CPU
    scorer = get_layer_scorer(criterion, backend)
    layer_features, labels = check_layer_inputs(layer_features, labels)
    scores, embeddings = _score_varying_layers(scorer, layer_features, labels, seed=int(seed),
                                               return_embeddings=return_embeddings, **options)
    kept_depth, threshold = depth_from_scores(scores, alpha)
    return DepthSelection(kept_depth=kept_depth, scores=scores, threshold=threshold,
                          alpha=alpha, backend=backend, criterion=criterion, embeddings=embeddings)


def resolve_backend(criterion: str = 'tsne_silhouette', device=None) -> str:
    """The backend that ``backend='auto'`` stands for.

    ``'torch'`` where the analysis runs on CUDA (``device``, or when it is None, wherever CUDA is
    available) and the criterion has a torch backend; otherwise the criterion's reference
    (``'sklearn'``, or its only backend). The CPU gets the reference because the exact t-SNE of
    the torch backend costs O(N^2) per iteration, which only a GPU makes cheap.

    Args:
        criterion (str): Registered criterion name. Defaults to ``'tsne_silhouette'``.
        device (str | torch.device, optional): Where the analysis runs. Defaults to None.

    Returns:
        str: A registered backend of ``criterion``.
    """
    backends = sorted(name for registered, name in LAYER_SCORERS if registered == criterion)
    if not backends:
        get_layer_scorer(criterion, AUTO_BACKEND)  # raises, listing what is registered
    on_cuda = (torch.device(device).type == 'cuda' if device is not None else
               torch.cuda.is_available())
    if on_cuda and GPU_BACKEND in backends:
        return GPU_BACKEND
    if REFERENCE_BACKEND in backends:
        return REFERENCE_BACKEND
    if len(backends) == 1:
        return backends[0]
    raise ValueError(f"backend='auto' cannot choose for criterion {criterion!r}: it has neither a "
                     f"{REFERENCE_BACKEND!r} backend nor a single one ({backends}); pass one of "
                     'them as backend=')


def _score_varying_layers(scorer, layer_features, labels, *, return_embeddings, **kwargs):
    """Run ``scorer`` on the layers whose features vary; flat layers score 0 ("no separation").

    The same for every criterion and backend: flat layers never reach a scorer (sklearn's t-SNE
    crashes the process on them), and their embedding, when asked for, is all zeros.
    """
    flat = flat_layers(layer_features)
    if len(flat) == len(layer_features):
        raise ValueError(f'No layer\'s features vary across the samples (layer 1: {flat[0]}): there '
                         'is nothing to score. Check the captured features (e.g. a hook on the wrong '
                         'module, or a model whose outputs are constant).')
    for index, reason in flat.items():
        warnings.warn(f'Layer {index + 1}: {reason}; it cannot separate the classes and scores 0 '
                      '(no separation). If such small variations are meaningful, rescale the '
                      'features.')
    varying = [index for index in range(len(layer_features)) if index not in flat]
    result = scorer([layer_features[index] for index in varying], labels,
                    return_embeddings=return_embeddings, **kwargs)
    scores = [0.0] * len(layer_features)
    embeddings = [np.zeros((labels.size, 2))] * len(layer_features)
    for position, index in enumerate(varying):
        scores[index] = float(result.scores[position])
        if result.embeddings is not None:
            embeddings[index] = result.embeddings[position]
    return tuple(scores), (tuple(embeddings) if result.embeddings is not None else None)
