"""UPDP's progressive depth pruning as a Runner hook: fade chosen blocks out, then remove them."""
import math
from typing import List, Optional, Sequence, Union

import torch
from mmengine.runner import EpochBasedTrainLoop

from mmsls.depth import depth_structure, find_backbone, prunable_units, unwrap_model
from mmsls.depth.fading import FadedBlocks
from mmsls.registry import HOOKS
from .runner_pruning import DepthPruningHook, check_no_ema, prune_runner_to_units
from .selection import (BypassSearch, DepthSelection, MessageHubSelection, UnitsSelection,
                        build_selection)

#: Key of the fade record in a checkpoint's ``meta``.
PROGRESSIVE_RECORD_KEY = 'mmsls_progressive_depth'
FADE_SCHEDULES = ('linear', 'cosine')
_SEARCH_OPTIONS = {'num_remove', 'flops_ratio', 'num_samples', 'metric', 'seed'}


def fade_blend(iteration: int, begin: int, span: int, schedule: str = 'linear') -> float:
    """The blend of the faded blocks during training iteration ``iteration`` (0-based).

    0 up to iteration ``begin - 1``; then it rises over ``span`` iterations and is exactly 1 during
    iteration ``begin + span - 1``, after which the blocks are removed.

    Args:
        iteration (int): The training iteration about to run.
        begin (int): The first iteration with a blend above 0.
        span (int): How many iterations the fade lasts, at least 1.
        schedule (str): ``'linear'``, or ``'cosine'`` (``(1 - cos(pi * progress)) / 2``).

    Returns:
        float: The blend, in [0, 1].
    """
    progress = min(max((iteration + 1 - begin) / span, 0.0), 1.0)
    if schedule == 'linear':
        return progress
    return (1 - math.cos(math.pi * progress)) / 2


@HOOKS.register_module()
class ProgressiveDepthHook(DepthPruningHook):
    """Fade chosen blocks out during training, then remove them (UPDP's progressive depth pruning).

    From the fade's start, each chosen block's output is blended towards its input
    (:class:`mmsls.depth.fading.BlockFade`), with a blend rising from 0 to 1 over ``span``; once it is
    1 the output of the model no longer depends on those blocks, and they are removed physically with
    :func:`~mmsls.hooks.runner_pruning.prune_runner_model` (the optimizer and DDP follow). The blend is
    a function of ``runner.iter``, and checkpoints record the faded blocks, so resuming in the middle of
    the fade continues the same schedule; testing a mid-fade checkpoint with this config evaluates the
    model at its recorded blend.

    The blocks to remove (*what*) are chosen when the fade starts, by rank 0 for every rank, from
    exactly one of:

    - ``blocks``: unit names (``'layers.11'``) or positions into ``prunable_units(model)``;
    - ``depth``: a kept depth k; what :func:`mmsls.depth.depth_keep` drops is removed;
    - ``keep_from``: a message hub info key where another hook left the units to keep (positions,
      unit names, or a kept depth k). ``'mmsls/sls_keep'`` is SLS's decision: an ``SLSHook`` with
      ``dry_run=True`` in the same run decides at ``before_train``, prunes nothing and publishes its
      kept units there;
    - ``search``: UPDP's subnet search (:func:`mmsls.analysis.block_bypass.select_blocks_by_bypass`)
      on a seeded sample of the training set: ``dict(num_remove=3)`` or ``dict(flops_ratio=0.25)``,
      and optionally ``num_samples`` (256), ``metric`` (``'loss'`` or ``'error'``) and ``seed`` (0);
    - ``select``: any selection of :mod:`mmsls.hooks.selection` as a config dict, e.g.
      ``dict(type='SLSSelection', alpha=0.3)`` (SLS chooses, this hook fades, without a second hook).

    Args:
        blocks (Sequence[str | int], optional): The blocks to remove.
        depth (int, optional): Keep the first ``depth`` units (and every required one).
        keep_from (str, optional): Message hub info key holding the units to keep.
        search (dict, optional): Options of the bypass search.
        select (dict | UnitSelection, optional): A selection.
        begin (int): When the fade starts, in ``by`` units from the start of training. Defaults to 0.
        span (int): How long the fade lasts, in ``by`` units, at least 1. Defaults to 1.
        by (str): ``'iter'``, or ``'epoch'`` with an epoch-based loop (the blend still moves every
            iteration). Defaults to ``'iter'``.
        schedule (str): ``'linear'`` or ``'cosine'``, see :func:`fade_blend`. Defaults to ``'linear'``.
        allow_empty_stages (bool): Allow removing required units (the first block of a stage).
            Defaults to False.
        verify_removal (bool): At removal, run the backbone on the current batch before and after and
            log how much its outputs moved (they should not; a backbone that remaps intermediate
            outputs, such as mmseg's ViT with several ``out_indices``, may move them and gets a
            warning). Defaults to True.
    """

    # Before the CheckpointHook (VERY_LOW), so a checkpoint of the removal iteration is pruned.
    priority = 'NORMAL'

    def __init__(self,
                 blocks: Optional[Sequence[Union[str, int]]] = None,
                 depth: Optional[int] = None,
                 keep_from: Optional[str] = None,
                 search: Optional[dict] = None,
                 select: Optional[dict] = None,
                 begin: int = 0,
                 span: int = 1,
                 by: str = 'iter',
                 schedule: str = 'linear',
                 allow_empty_stages: bool = False,
                 verify_removal: bool = True):
        sources = dict(blocks=blocks, depth=depth, keep_from=keep_from, search=search, select=select)
        given = [name for name, value in sources.items() if value is not None]
        if len(given) != 1:
            raise ValueError(f'give exactly one of blocks, depth, keep_from, search and select to '
                             f'choose the blocks to remove, got {given or "none"}')
        if search is not None and (not isinstance(search, dict) or set(search) - _SEARCH_OPTIONS):
            raise ValueError(f'search must be a dict with keys among {sorted(_SEARCH_OPTIONS)}, got '
                             f'{search!r}')
        if blocks is not None:
            self.selection = UnitsSelection(remove=blocks, name='blocks')
        elif depth is not None:
            self.selection = DepthSelection(depth)
        elif keep_from is not None:
            self.selection = MessageHubSelection(keep_from)
        elif search is not None:
            self.selection = BypassSearch(**search)
        else:
            self.selection = build_selection(select)
        for name, value, lowest in (('begin', begin, 0), ('span', span, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise ValueError(f'{name} must be an int >= {lowest}, got {value!r}')
        if by not in ('iter', 'epoch'):
            raise ValueError(f"by must be 'iter' or 'epoch', got {by!r}")
        if schedule not in FADE_SCHEDULES:
            raise ValueError(f'schedule must be one of {FADE_SCHEDULES}, got {schedule!r}')
        self.blocks = None if blocks is None else list(blocks)
        self.depth = depth
        self.keep_from = keep_from
        self.search = None if search is None else dict(search)
        self.begin, self.span, self.by, self.schedule = begin, span, by, schedule
        self.allow_empty_stages = allow_empty_stages
        self.verify_removal = verify_removal
        self._faded: Optional[FadedBlocks] = None
        self._names: Optional[List[str]] = None
        self._removed = False
        self._loaded: Optional[dict] = None
        self._begin_iter = self._span_iters = None

    @property
    def blend(self) -> float:
        """The current blend: 0 before the fade, 1 once the blocks are removed."""
        if self._removed:
            return 1.0
        return 0.0 if self._faded is None else self._faded.blend

    @property
    def faded_blocks(self) -> Optional[List[str]]:
        """The unit names being faded out (or removed), once chosen."""
        return None if self._names is None else list(self._names)

    # -- Runner events -----------------------------------------------------------------------------

    def before_train(self, runner) -> None:
        check_no_ema(runner, 'ProgressiveDepthHook')  # now, not when the fade ends
        self._begin_iter, self._span_iters = self._iteration_schedule(runner)
        loaded, self._loaded = self._loaded, None
        if loaded is not None and runner.iter == 0:
            # load_from (not resume): this run's own schedule starts over.
            runner.logger.info('ProgressiveDepthHook: the loaded checkpoint was faded; this run '
                               'starts its own fade schedule')
            self._reset()
        elif loaded is not None:
            runner.logger.info(f'ProgressiveDepthHook: resumed at iteration {runner.iter} with '
                               f'{self._names} ' + ('removed' if self._removed else
                                                    f'faded at blend {self._faded.blend:.4f}'))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        blend = fade_blend(runner.iter, self._begin_iter, self._span_iters, self.schedule)
        if blend > 0 and not self._removed:
            if self._faded is None:
                self._start_fade(runner)
            if self._faded is not None:
                self._faded.blend = blend
        runner.message_hub.update_scalar('train/fade_blend', self.blend)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._faded is not None and self._faded.blend == 1:
            self._remove(runner, data_batch)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        super().before_save_checkpoint(runner, checkpoint)
        if self._names is None:
            return
        blend = 1.0 if self._removed else self._faded.blend
        checkpoint.setdefault('meta', {})[PROGRESSIVE_RECORD_KEY] = dict(
            blocks=list(self._names), blend=blend, removed=self._removed)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        super().after_load_checkpoint(runner, checkpoint)
        record = (checkpoint.get('meta') or {}).get(PROGRESSIVE_RECORD_KEY)
        if record is None:
            return
        _check_record(record, depth_structure(runner.model))
        self._reset()
        self._loaded = record
        self._names = list(record['blocks'])
        self._removed = record['removed']
        if not self._removed:
            # The weights were trained with these blocks faded: evaluate and resume them so.
            self._faded = FadedBlocks(runner.model, self._names, blend=record['blend'])

    # -- Steps -------------------------------------------------------------------------------------

    def _iteration_schedule(self, runner):
        """``begin`` and ``span`` in iterations, checked against the length of training."""
        begin, span = self.begin, self.span
        if self.by == 'epoch':
            if not isinstance(runner.train_loop, EpochBasedTrainLoop):
                raise ValueError(f"by='epoch' needs an epoch-based train loop, got "
                                 f"{type(runner.train_loop).__name__}; give begin and span in "
                                 "iterations with by='iter'")
            iters_per_epoch = len(runner.train_dataloader)
            begin, span = begin * iters_per_epoch, span * iters_per_epoch
        if begin + span > runner.max_iters:
            raise ValueError(f'the fade ends at iteration {begin + span} (begin {self.begin} + span '
                             f'{self.span} {self.by}s) but training stops at {runner.max_iters} '
                             'iterations: shorten the fade or train longer')
        return begin, span

    def _start_fade(self, runner) -> None:
        self._names = self.choose(runner, self.selection, self.allow_empty_stages).removed
        if not self._names:
            runner.logger.info('ProgressiveDepthHook: nothing to remove, the model keeps its depth')
            self._removed = True
            return
        self._faded = FadedBlocks(runner.model, self._names)
        runner.logger.info(f'ProgressiveDepthHook: fading out {self._names} ({self.schedule}) over '
                           f'iterations {self._begin_iter + 1}..{self._begin_iter + self._span_iters}')

    def _remove(self, runner, data_batch) -> None:
        model = unwrap_model(runner.model)
        keep = [unit.name for unit in prunable_units(model) if unit.name not in self._names]
        verify = self.verify_removal and data_batch is not None
        before = _backbone_outputs(model, data_batch) if verify else None
        self._faded.detach()
        self._faded = None
        prune_runner_to_units(runner, keep, allow_empty_stages=self.allow_empty_stages)
        self._removed = True
        runner.logger.info(f'ProgressiveDepthHook: removed {self._names} after iteration '
                           f'{runner.iter + 1}; {len(keep)} units remain')
        if verify:
            _report_output_change(runner, before,
                                  _backbone_outputs(unwrap_model(runner.model), data_batch))

    def _reset(self) -> None:
        if self._faded is not None:
            self._faded.detach()
        self._faded, self._names, self._removed = None, None, False


def _report_output_change(runner, before: List[torch.Tensor], after: List[torch.Tensor]) -> None:
    """Log how far the removal moved the backbone outputs; warn if they moved at all."""
    change = max((a - b).abs().max().item() for a, b in zip(before, after))
    scale = max(a.abs().max().item() for a in before)
    message = (f'ProgressiveDepthHook: removal changed the backbone outputs on this batch by at '
               f'most {change:.3g} (largest output {scale:.3g})')
    if change > 1e-5 * max(scale, 1.0):
        runner.logger.warning(message + ': the pruned backbone reads its outputs from other layers '
                              'than the faded one (an out_indices remap)')
    else:
        runner.logger.info(message)


def _backbone_outputs(model, data_batch) -> List[torch.Tensor]:
    """The backbone's output tensors for ``data_batch``, in eval mode without gradients."""
    _, backbone = find_backbone(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            inputs = model.data_preprocessor(data_batch, False)['inputs']
            outputs = backbone(inputs)
    finally:
        model.train(was_training)
    return [outputs] if torch.is_tensor(outputs) else list(outputs)


def _check_record(record, structure: dict) -> None:
    """Refuse a malformed fade record read from a checkpoint, naming what is wrong."""
    if not isinstance(record, dict):
        problem = 'it is not a dict'
    elif not isinstance(record.get('blocks'), list) or not record['blocks'] or not all(
            isinstance(name, str) for name in record['blocks']) \
            or len(set(record['blocks'])) != len(record['blocks']):
        problem = '"blocks" must be a non-empty list of distinct unit names'
    elif not set(record['blocks']) <= set(structure['units']):
        problem = (f'"blocks" names units this model does not have (its units are '
                   f'{structure["units"]}); build the model from the checkpoint\'s config')
    elif not isinstance(record.get('removed'), bool):
        problem = '"removed" must be true or false'
    elif isinstance(record.get('blend'), bool) or not isinstance(record.get('blend'), (int, float)) \
            or not 0 <= record['blend'] <= 1:
        problem = '"blend" must be a number in [0, 1]'
    elif record['removed'] and (record['blend'] != 1 or set(record['blocks']) & set(
            structure['kept'])):
        problem = 'removed blocks have blend 1 and are absent from the depth record\'s kept units'
    elif not record['removed'] and not set(record['blocks']) <= set(structure['kept']):
        problem = 'blocks still fading must be present in the model'
    else:
        return
    raise ValueError(f'the checkpoint\'s fade record (meta[{PROGRESSIVE_RECORD_KEY!r}]) is not valid: '
                     f'{problem}; got {record!r}. Use the checkpoint as ProgressiveDepthHook saved it')
