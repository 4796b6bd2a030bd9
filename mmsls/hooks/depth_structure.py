"""Persistence of the pruned structure through the Runner's checkpoints, for any config."""
from mmsls.registry import HOOKS
from .runner_pruning import DepthPruningHook


@HOOKS.register_module()
class DepthStructureHook(DepthPruningHook):
    """Record the pruned structure in saved checkpoints and re-apply it before weights load.

    On save, a pruned model's record (:func:`mmsls.depth.depth_structure`) goes into
    ``checkpoint['meta']['mmsls_depth']``. On load (``load_from``, ``resume``, ``tools/test.py``),
    MMEngine calls ``after_load_checkpoint`` before loading the weights: the model built from the
    original config is pruned to the record first (optimizer and DDP wrapper following), so the weights
    load strictly. A checkpoint whose weights do not match its record is refused.

    mmsls's ``tools/train.py`` and ``tools/test.py`` add it to every run, so that the original
    (unpruned) config tests and resumes a pruned checkpoint; the pruning hooks (SLSHook,
    PruneDepthHook, ProgressiveDepthHook) do the same by themselves (:class:`DepthPruningHook`).
    """

    priority = 'VERY_HIGH'
