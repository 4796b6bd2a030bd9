"""Depth pruning of a model that a Runner already holds, with the optimizer and DDP wrapper following."""
import copy
from typing import Iterable, List

from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from mmsls.depth import depth_keep, prune_depth
from mmsls.registry import HOOKS


def prune_runner_model(runner, keep: Iterable[int], allow_empty_stages: bool = False) -> None:
    """Prune ``runner.model`` like :func:`mmsls.depth.prune_depth`, keeping the Runner consistent.

    - The removed parameters leave the optimizer's param groups in place (and their optimizer state
      goes), so the optimizer stops stepping them while the param schedulers, which hold the optimizer
      and one value per group, stay valid; a resumed optimizer state then matches the pruned model.
      Groups left empty stay, to keep the group positions the schedulers rely on. An optimizer not
      built yet (still a config) will be built from the pruned model.
    - A distributed wrapper (DDP) is rebuilt around the pruned model with ``runner.wrap_model``, so its
      reducer no longer waits for gradients of removed parameters.

    Under DDP every rank must call this with the same ``keep``. A Runner with an ``EMAHook`` is
    refused (:func:`check_no_ema`).

    Args:
        runner (Runner): The runner whose model to prune.
        keep (Iterable[int]): Positions into ``prunable_units(runner.model)`` to keep.
        allow_empty_stages (bool): Allow removing required units. Defaults to False.
    """
    check_no_ema(runner, 'Depth pruning of the Runner\'s model')
    wrapped = is_model_wrapper(runner.model)
    model = runner.model.module if wrapped else runner.model
    before = list(model.parameters())
    prune_depth(model, keep, allow_empty_stages=allow_empty_stages)
    remaining = {id(param) for param in model.parameters()}
    removed = [param for param in before if id(param) not in remaining]
    if not removed:
        return
    _drop_from_optimizer(runner.optim_wrapper, removed)
    if wrapped:
        # wrap_model fills defaults into the config it gets: hand it a copy.
        wrapper_cfg = copy.deepcopy(runner.cfg.get('model_wrapper_cfg', None))
        runner.model = runner.wrap_model(wrapper_cfg, model)


def check_no_ema(runner, what: str) -> None:
    """Refuse a Runner with an ``EMAHook``: its averaged copy of the model would keep every block.

    MMEngine's EMAHook swaps the averaged and the live weights by position (for validation, test and
    checkpoints), so after pruning it would pair weights of different layers without an error.

    Raises:
        ValueError: If ``runner`` has an EMAHook; the message starts with ``what``.
    """
    if any(isinstance(hook, EMAHook) for hook in runner.hooks):
        raise ValueError(
            f'{what} cannot run with EMAHook: its averaged copy of the model keeps the removed '
            'blocks, and MMEngine swaps the averaged and live weights by position, which would '
            'load weights into the wrong layers. Remove EMAHook from custom_hooks for this run '
            '(mmpretrain configs often add it; `custom_hooks=[...]` in your config replaces the '
            'inherited list).')


def _drop_from_optimizer(optim_wrapper, removed: List[nn.Parameter]) -> None:
    """Remove ``removed`` from the param groups and state of every optimizer, in place."""
    if not isinstance(optim_wrapper, OptimWrapper):
        return
    wrappers = optim_wrapper.values() if isinstance(optim_wrapper, OptimWrapperDict) else [optim_wrapper]
    removed_ids = {id(param) for param in removed}
    for wrapper in wrappers:
        optimizer = wrapper.optimizer
        for group in optimizer.param_groups:
            group['params'] = [param for param in group['params'] if id(param) not in removed_ids]
        for param in removed:
            optimizer.state.pop(param, None)


@HOOKS.register_module()
class PruneDepthHook(Hook):
    """Prune the model to its first ``depth`` units (plus every required unit) before training.

    Runs at ``before_train``, after the Runner loaded or resumed a checkpoint, with the optimizer and
    the DDP wrapper following (see :func:`prune_runner_model`). A model that already has that structure
    (e.g. resumed from a checkpoint of this run) stays as it is.

    Args:
        depth (int): The kept depth k, as :func:`mmsls.depth.depth_keep` reads it.
    """

    def __init__(self, depth: int):
        self.depth = depth

    def before_train(self, runner) -> None:
        prune_runner_model(runner, depth_keep(runner.model, self.depth))
