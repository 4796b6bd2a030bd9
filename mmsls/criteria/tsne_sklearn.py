"""sklearn's Barnes-Hut t-SNE over layers: one after the other, or one layer per core at a time.

Threads count twice here. sklearn's t-SNE gradient runs on OpenMP threads whose summation order
changes the embedding as much as a new seed does, so only a fixed thread count gives results that
do not depend on the machine; and on a busy machine OpenMP threads wait on each other (7x slower
than one thread for 1000 points, measured here; see docs/criteria.md). So every t-SNE runs on one
thread, and parallelism comes from running several layers at once. Python threads suffice for
that: the gradient, where the time goes, releases the GIL; worker processes would each pay seconds
of imports (torch, mmsls) at start-up.
"""
import inspect
import os
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence

import numpy as np
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from .tsne_settings import TSNESettings

# sklearn renamed TSNE's n_iter to max_iter in 1.5 (and removed n_iter in 1.7).
_ITER_ARG = 'max_iter' if 'max_iter' in inspect.signature(TSNE).parameters else 'n_iter'
_SKLEARN_EXAGGERATION_ITER = 250  # fixed inside sklearn's TSNE


def sklearn_tsne_embed(features: np.ndarray,
                       settings: TSNESettings,
                       seed: int = 0,
                       angle: float = 0.5) -> np.ndarray:
    """2-D embedding of one layer with ``sklearn.manifold.TSNE`` (Barnes-Hut, PCA init).

    Runs on the calling thread's OpenMP thread budget; see the module notes.

    Args:
        features (np.ndarray): (N, C) features.
        settings (TSNESettings): Perplexity (already reduced for small N), learning rate, schedule.
        seed (int): ``random_state`` of TSNE (it seeds the randomized PCA initialisation).
            Defaults to 0.
        angle (float): Barnes-Hut opening angle; 0.5 is sklearn's default and the reference.

    Returns:
        np.ndarray: (N, 2) embedding.
    """
    if settings.exaggeration_iter != _SKLEARN_EXAGGERATION_ITER:
        raise ValueError(f'sklearn fixes the early exaggeration phase at '
                         f'{_SKLEARN_EXAGGERATION_ITER} iterations; got exaggeration_iter='
                         f'{settings.exaggeration_iter}. Use the torch backend for other '
                         'schedules.')
    # The SLS authors call TSNE(n_components=2, init='pca', random_state=0): sklearn turns its
    # learning_rate='auto' into np.maximum(N / early_exaggeration / 4, 50), an np.float64 (50 for
    # N <= 2400). On numpy 2 that scalar makes the optimiser's update float64, while a Python float
    # keeps it float32 (scores differ by up to 0.06); an np.float64 gives their embedding exactly.
    tsne = TSNE(n_components=2, perplexity=settings.perplexity,
                learning_rate=np.float64(settings.learning_rate),
                early_exaggeration=settings.early_exaggeration, init='pca', random_state=seed,
                angle=angle, **{_ITER_ARG: settings.max_iter})
    return tsne.fit_transform(features)


def sequential_sklearn_tsne_embed(layer_features: Sequence[np.ndarray],
                                  settings: TSNESettings,
                                  seed: int = 0,
                                  num_threads: Optional[int] = 1) -> List[np.ndarray]:
    """:func:`sklearn_tsne_embed` for every layer, one after the other.

    Args:
        layer_features (Sequence[np.ndarray]): (N, C_l) features per layer.
        settings (TSNESettings): As for :func:`sklearn_tsne_embed`.
        seed (int): ``random_state`` of every layer's TSNE. Defaults to 0.
        num_threads (int, optional): Threads of every t-SNE. Defaults to 1; None leaves sklearn's
            default (all cores), whose results depend on the core count.

    Returns:
        list[np.ndarray]: (N, 2) embeddings, layer 1 first.
    """
    with threadpool_limits(limits=num_threads):
        return [sklearn_tsne_embed(features, settings, seed) for features in layer_features]


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parallel_sklearn_tsne_embed(layer_features: Sequence[np.ndarray],
                                settings: TSNESettings,
                                seed: int = 0,
                                angle: float = 0.5,
                                num_workers: Optional[int] = None) -> List[np.ndarray]:
    """:func:`sklearn_tsne_embed` for every layer, on one single-threaded worker per core.

    The result equals that of :func:`sequential_sklearn_tsne_embed` (one thread per t-SNE either
    way). With one worker (one core, or one layer) everything runs on the calling thread.

    Args:
        layer_features (Sequence[np.ndarray]): (N, C_l) features per layer.
        settings (TSNESettings): As for :func:`sklearn_tsne_embed`.
        seed (int): ``random_state`` of every layer's TSNE. Defaults to 0.
        angle (float): Barnes-Hut opening angle. Defaults to 0.5.
        num_workers (int, optional): Worker threads. Defaults to the available cores.

    Returns:
        list[np.ndarray]: (N, 2) embeddings, layer 1 first.
    """
    if num_workers is not None and num_workers < 1:
        raise ValueError(f'num_workers must be >= 1 (or None for one per core), got {num_workers}.')
    num_workers = min(num_workers or available_cores(), len(layer_features))

    def embed(features):
        # OpenMP thread budgets are per thread, so each worker limits its own.
        with threadpool_limits(limits=1, user_api='openmp'):
            return sklearn_tsne_embed(features, settings, seed, angle)

    # BLAS thread budgets are per process: limit them once around all workers.
    with threadpool_limits(limits=1, user_api='blas'):
        if num_workers == 1:
            return [embed(features) for features in layer_features]
        with ThreadPoolExecutor(num_workers, thread_name_prefix='tsne') as pool:
            # Largest layers first, so that no worker is left alone with a big one at the end.
            order = sorted(range(len(layer_features)), key=lambda i: -layer_features[i].size)
            futures = {i: pool.submit(embed, layer_features[i]) for i in order}
            return [futures[i].result() for i in range(len(layer_features))]
