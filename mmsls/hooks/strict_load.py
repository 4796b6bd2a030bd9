"""Refuse a checkpoint that does not fit the model, where MMEngine's Runner would load it partly."""
import re

from mmengine.hooks import Hook

from mmsls.depth import unwrap_model
from mmsls.registry import HOOKS


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Load ``load_from`` strictly: missing or unexpected keys, or a shape mismatch, stop the run.

    The Runner loads ``load_from`` with ``strict=False``: another model's checkpoint then loads the
    few weights that happen to match and the run goes on with random weights elsewhere.
    ``tools/test.py`` adds this hook (unless ``--non-strict``). MMEngine calls
    ``after_load_checkpoint`` before it loads the weights; with the lowest priority this hook runs
    after the hooks that re-apply a recorded structure (depth record, fade), loads the weights
    itself with the key rule the Runner uses (a leading ``module.`` stripped), and raises with the
    keys named when they do not fit. The Runner's own load then writes the same values again.
    """

    priority = 'LOWEST'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state_dict = checkpoint.get('state_dict', checkpoint)
        state_dict = {re.sub(r'^module\.', '', key): value for key, value in state_dict.items()}
        source = runner.cfg.get('load_from') or 'the checkpoint'
        try:
            missing, unexpected = unwrap_model(runner.model).load_state_dict(state_dict, strict=False)
        except RuntimeError as error:  # torch refuses shape mismatches even when not strict
            raise RuntimeError(f'{source} does not fit the model of the config: {error}\n'
                               f'{self._advice}') from None
        # MMEngine ignores these too: BatchNorm counters absent from checkpoints of old torch versions.
        missing = [key for key in missing if not key.endswith('num_batches_tracked')]
        if missing or unexpected:
            raise RuntimeError(
                f'{source} does not fit the model of the config:\n'
                + ''.join(f'  {len(keys)} {kind} keys: {", ".join(keys[:10])}'
                          f'{", ..." if len(keys) > 10 else ""}\n'
                          for kind, keys in (('missing', missing), ('unexpected', unexpected)) if keys)
                + self._advice)

    _advice = ('Pass the config the checkpoint was trained with, or --non-strict to load only the '
               'weights that match (MMEngine\'s default; the mismatched keys are then logged as a '
               'warning).')
