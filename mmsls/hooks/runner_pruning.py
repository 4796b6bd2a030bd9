"""Depth pruning of a model that a Runner already holds, with the optimizer and DDP wrapper following;
the depth record in the Runner's checkpoints; the base of the hooks that prune."""
import copy
from typing import Iterable, List, Optional, Sequence

from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from mmsls.depth import (DEPTH_RECORD_KEY, check_weights_match_record, depth_structure,
                         find_backbone, has_prunable_backbone, is_depth_pruned, prunable_units,
                         prune_depth, recorded_keep, unwrap_model)
from mmsls.registry import HOOKS
from mmsls.reporting import count_parameters, format_pruning_change, pruning_cost
from .broadcast import decide_on_rank0
from .runner_merging import apply_runner_merged_structure
from .selection import FirstUnitsSelection, UnitChoice, UnitSelection, build_selection


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
    units = prunable_units(model)
    cost = pruning_cost(model, find_backbone(model)[1], units)  # for the log line below
    prune_depth(model, keep, allow_empty_stages=allow_empty_stages)
    remaining = {id(param) for param in model.parameters()}
    removed = [param for param in before if id(param) not in remaining]
    if not removed:
        return
    kept = {unit.name for unit in prunable_units(model)}
    runner.logger.info(f'depth pruning: {len(units)} -> {len(kept)} units; ' + format_pruning_change(
        cost, count_parameters(model), [unit.name for unit in units if unit.name not in kept]))
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


def prune_runner_to_units(runner, kept: Sequence[str], allow_empty_stages: bool = False) -> None:
    """:func:`prune_runner_model` to the units named ``kept`` (names stay valid as units go)."""
    current = [unit.name for unit in prunable_units(runner.model)]
    missing = [name for name in kept if name not in current]
    if missing:
        raise ValueError(f'cannot keep {missing}: the model has no such units any more (its units are '
                         f'{current}). Load the checkpoint into a model built from its own config')
    prune_runner_model(runner, [current.index(name) for name in kept],
                       allow_empty_stages=allow_empty_stages)


def save_depth_record(runner, checkpoint: dict) -> None:
    """Put the depth record of a pruned ``runner.model`` into ``checkpoint['meta']``."""
    # Also runs for models without a prunable backbone (DepthStructureHook is in every mmsls run).
    if has_prunable_backbone(runner.model) and is_depth_pruned(runner.model):
        checkpoint.setdefault('meta', {})[DEPTH_RECORD_KEY] = depth_structure(runner.model)


def apply_loaded_depth_record(runner, checkpoint: dict) -> None:
    """Prune ``runner.model`` to the structure recorded in ``checkpoint``, before its weights load.

    MMEngine calls ``after_load_checkpoint`` hooks between reading a checkpoint and loading its
    weights (``load_from``, ``resume``, testing). The checkpoint's weights are checked against its
    record first. A model that already has the recorded structure (another hook applied it) stays.
    """
    record = (checkpoint.get('meta') or {}).get(DEPTH_RECORD_KEY)
    if record is None:
        return
    model = unwrap_model(runner.model)
    if depth_structure(model) == record:
        return
    # MMEngine's loader reads a bare state dict as well as a Runner checkpoint.
    check_weights_match_record(model, record, checkpoint.get('state_dict', checkpoint))
    prune_runner_model(runner, recorded_keep(model, record), allow_empty_stages=True)
    apply_runner_merged_structure(runner, record.get('merged', {}))
    runner.logger.info(f're-applied pruned structure {record["kept"]} from the checkpoint '
                       f'({len(record["kept"])} of {len(record["units"])} units)')


class DepthPruningHook(Hook):
    """Base of the hooks that prune the Runner's model: their checkpoints describe themselves.

    Each pruned checkpoint carries the depth record (``meta['mmsls_depth']``) and a checkpoint with a
    record is re-applied before its weights load, so the hook's own config tests, resumes and
    fine-tunes its checkpoints through any ``train.py`` / ``test.py`` (mmpretrain's, mmdet's, mmseg's
    with ``custom_imports=dict(imports=['mmsls'])``), not only through mmsls's tools, which add
    :class:`DepthStructureHook` for configs without a pruning hook.

    Subclasses choose *what* with a :class:`~mmsls.hooks.selection.UnitSelection` (:meth:`choose`:
    rank 0 decides, every rank gets the decision) and *when* with their own Runner events.
    """

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        save_depth_record(runner, checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        apply_loaded_depth_record(runner, checkpoint)

    @staticmethod
    def choose(runner, selection: UnitSelection, allow_empty_stages: bool = False) -> UnitChoice:
        """``selection``'s checked choice for ``runner.model``, decided on rank 0 and broadcast."""
        return decide_on_rank0(lambda: selection.choose(runner, allow_empty_stages),
                               f'choosing the units to keep ({selection.source})')


@HOOKS.register_module()
class PruneDepthHook(DepthPruningHook):
    """Prune the model once, before training, to the units a selection keeps.

    Runs at ``before_train``, after the Runner loaded or resumed a checkpoint, with the optimizer and
    the DDP wrapper following (see :func:`prune_runner_model`). A resumed run whose model is already
    pruned (the structure re-applied from the checkpoint) stays as it is.

    Args:
        depth (int, optional): Keep the first ``depth`` units and every required one
            (:func:`mmsls.depth.depth_keep`).
        select (dict | UnitSelection, optional): Or any selection, e.g.
            ``dict(type='UnitsSelection', remove=['layers.3'])`` (see :mod:`mmsls.hooks.selection`).
        allow_empty_stages (bool): Allow removing required units. Defaults to False.
    """

    def __init__(self, depth: Optional[int] = None, select=None, allow_empty_stages: bool = False):
        if (depth is None) == (select is None):
            raise ValueError('PruneDepthHook needs exactly one of depth (a kept depth k) and select '
                             f'(a selection config), got depth={depth!r}, select={select!r}')
        self.depth = depth
        self.selection = FirstUnitsSelection(depth) if select is None else build_selection(select)
        self.allow_empty_stages = allow_empty_stages

    def before_train(self, runner) -> None:
        if runner.iter > 0 and is_depth_pruned(runner.model):
            runner.logger.info('PruneDepthHook: the resumed model is already pruned; it keeps '
                               f'{[unit.name for unit in prunable_units(runner.model)]}')
            return
        choice = self.choose(runner, self.selection, self.allow_empty_stages)
        prune_runner_to_units(runner, choice.kept, self.allow_empty_stages)
