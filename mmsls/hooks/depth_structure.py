"""Persistence of the pruned structure through the Runner's checkpoints, for any config."""
from mmsls.registry import HOOKS
from .progressive_depth import PROGRESSIVE_RECORD_KEY, ProgressiveDepthHook
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

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        super().after_load_checkpoint(runner, checkpoint)
        # A checkpoint saved mid-fade is the faded model; only ProgressiveDepthHook re-applies the fade.
        fade = (checkpoint.get('meta') or {}).get(PROGRESSIVE_RECORD_KEY)
        if isinstance(fade, dict) and fade.get('removed') is False and fade.get('blend') != 0 \
                and not any(isinstance(hook, ProgressiveDepthHook) for hook in runner.hooks):
            raise ValueError(
                f'the checkpoint was saved while blocks {fade.get("blocks")} were being faded out '
                f'(blend {fade.get("blend")}), and this run has no ProgressiveDepthHook to re-apply '
                'the fade: the model would compute something else. Use the config it was trained '
                'with (its ProgressiveDepthHook applies the recorded blend), or a checkpoint saved '
                'after the fade ended')
