"""Persistence of the pruned structure through the Runner's checkpoints."""
from mmengine.hooks import Hook

from mmsls.depth import (DEPTH_RECORD_KEY, check_weights_match_record, depth_structure,
                         has_prunable_backbone, is_depth_pruned, recorded_keep,
                         unwrap_model)
from mmsls.registry import HOOKS
from .runner_pruning import prune_runner_model


@HOOKS.register_module()
class DepthStructureHook(Hook):
    """Record the pruned structure in saved checkpoints and re-apply it before weights load.

    On save, a pruned model's record (:func:`mmsls.depth.depth_structure`) goes into
    ``checkpoint['meta']['mmsls_depth']``. On load (``load_from``, ``resume``, ``tools/test.py``),
    MMEngine calls ``after_load_checkpoint`` before loading the weights: the model built from the
    original config is pruned to the record first (optimizer and DDP wrapper following), so the weights
    load strictly. A checkpoint whose weights do not match its record is refused.
    """

    priority = 'VERY_HIGH'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # The hook runs in every mmsls run, also for models without a prunable backbone.
        if has_prunable_backbone(runner.model) and is_depth_pruned(runner.model):
            checkpoint.setdefault('meta', {})[DEPTH_RECORD_KEY] = depth_structure(runner.model)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        record = (checkpoint.get('meta') or {}).get(DEPTH_RECORD_KEY)
        if record is None:
            return
        model = unwrap_model(runner.model)
        # MMEngine's loader reads a bare state dict as well as a Runner checkpoint.
        check_weights_match_record(model, record, checkpoint.get('state_dict', checkpoint))
        prune_runner_model(runner, recorded_keep(model, record), allow_empty_stages=True)
