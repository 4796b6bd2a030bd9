"""UPDP's progressive depth pruning as a Runner hook: fade chosen blocks out, then remove them, or
(``mode='merge'``) turn them into their linear form, then merge them."""
import math
import random
from typing import List, Optional, Sequence, Union

import torch
from mmengine.runner import EpochBasedTrainLoop

from mmsls.depth import (calibrate_linearized, depth_structure, find_backbone, prunable_units,
                         unit_names, unwrap_model)
from mmsls.depth.fading import FadedBlocks
from mmsls.depth.linearize import check_mergeable
from mmsls.registry import HOOKS
from .broadcast import decide_on_rank0
from .runner_merging import (linearize_runner_units, merge_runner_units,
                             swap_optimizer_parameters)
from .runner_pruning import DepthPruningHook, check_no_ema, prune_runner_to_units
from .selection import (BypassSearch, FirstUnitsSelection, MessageHubSelection, UnitsSelection,
                        build_selection)

#: Key of the fade record in a checkpoint's ``meta``.
PROGRESSIVE_RECORD_KEY = 'mmsls_progressive_depth'
FADE_SCHEDULES = ('linear', 'cosine')
PROGRESSIVE_MODES = ('remove', 'merge')
_SUPERNET_OPTIONS = {'prob', 'seed'}
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

    ``mode='merge'`` runs UPDP's four stages instead of block removal:

    1. supernet (optional, ``supernet=dict(prob=p)``): from the start of training until ``begin``,
       every candidate block (those in ``blocks``, else every block with a merged form) runs its
       linear form with probability ``p`` in each iteration, its BatchNorm stand-ins training along;
    2. subnet search (with ``search=...``): the greedy search measures the loss increase of running
       blocks as their linear form (:func:`~mmsls.analysis.block_bypass.select_blocks_by_bypass`
       with ``replace='linear'``; with a supernet, its trained stand-ins are used);
    3. progressive fade: each chosen block's activations, LayerNorm/GroupNorm and (ViT) attention
       branch blend towards the linear form (:class:`mmsls.depth.LinearizedBlocks`) as the blend
       rises over ``span``; the stand-ins are calibrated on ``calibrate_samples`` training images
       when the fade starts and train with the model;
    4. merge: after the iteration at blend 1 each block is replaced by its merged block
       (:func:`mmsls.depth.merge_blocks`); the depth record lists merged blocks, so checkpoints test
       and resume with the original config.

    In merge mode ``blocks`` may name any block with a merged form (stride-2 and channel-changing
    ones included); ``depth``, ``keep_from`` and ``select`` merge what they would remove.

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
        mode (str): ``'remove'`` (fade out, then delete) or ``'merge'`` (UPDP: linearise, then
            merge). Defaults to ``'remove'``.
        supernet (dict, optional): Merge mode only: ``dict(prob=p, seed=0)`` runs the supernet
            phase over the iterations before ``begin`` (which must then be > 0).
        calibrate_samples (int): Merge mode: training images the BatchNorm stand-ins are calibrated
            on when the fade (or supernet) starts. Defaults to 64.
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
                 verify_removal: bool = True,
                 mode: str = 'remove',
                 supernet: Optional[dict] = None,
                 calibrate_samples: int = 64):
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
            self.selection = FirstUnitsSelection(depth)
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
        _check_merge_options(mode, supernet, begin, calibrate_samples)
        self.mode, self.calibrate_samples = mode, calibrate_samples
        self.supernet = None if supernet is None else dict(supernet)
        self._supernet = None
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
        elif loaded is not None and self._supernet is not None:
            runner.logger.info(f'ProgressiveDepthHook: resumed at iteration {runner.iter} in the '
                               f'supernet phase of {self._supernet.names}')
        elif loaded is not None:
            runner.logger.info(f'ProgressiveDepthHook: resumed at iteration {runner.iter} with '
                               f'{self._names} ' + ('removed' if self._removed else
                                                    f'faded at blend {self._faded.blend:.4f}'))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        blend = fade_blend(runner.iter, self._begin_iter, self._span_iters, self.schedule)
        if self.supernet is not None and blend == 0 and self._names is None:
            if self._supernet is None:
                self._start_supernet(runner)
            self._sample_supernet(runner.iter)
        if blend > 0 and not self._removed:
            if self._faded is None:
                self._start_fade(runner)
            if self._faded is not None:
                self._faded.blend = blend
        runner.message_hub.update_scalar('train/fade_blend', self.blend)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._faded is not None and self._faded.blend == 1:
            if self.mode == 'merge':
                self._merge(runner, data_batch)
            else:
                self._remove(runner, data_batch)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        super().before_save_checkpoint(runner, checkpoint)
        if self._supernet is not None:
            # The state dict holds the candidates' stand-ins: a load re-linearises them first.
            checkpoint.setdefault('meta', {})[PROGRESSIVE_RECORD_KEY] = dict(
                mode=self.mode, supernet=list(self._supernet.names))
            return
        if self._names is None:
            return
        blend = 1.0 if self._removed else self._faded.blend
        record = dict(blocks=list(self._names), blend=blend, removed=self._removed)
        if self.mode == 'merge':
            record['mode'] = 'merge'     # a record without a mode is a removal's
        checkpoint.setdefault('meta', {})[PROGRESSIVE_RECORD_KEY] = record

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        super().after_load_checkpoint(runner, checkpoint)
        record = (checkpoint.get('meta') or {}).get(PROGRESSIVE_RECORD_KEY)
        if record is None:
            return
        _check_record(record, depth_structure(runner.model))
        if record.get('mode', 'remove') != self.mode:
            raise ValueError(f"the checkpoint was made by ProgressiveDepthHook(mode="
                             f"'{record.get('mode', 'remove')}'), this hook has mode='{self.mode}': "
                             'test and resume it with the config it was trained with')
        self._reset()
        self._loaded = record
        if record.get('supernet') is not None:
            self._supernet = linearize_runner_units(runner, record['supernet'])
            return
        self._names = list(record['blocks'])
        self._removed = record['removed']
        if not self._removed and self.mode == 'merge':
            self._faded = linearize_runner_units(runner, self._names, blend=record['blend'])
        elif not self._removed:
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
        if self.mode == 'merge':
            self._start_linear_fade(runner)
            return
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

    # -- Merge mode (UPDP's stages) ------------------------------------------------------------------

    def _candidates(self, runner) -> List[str]:
        """The blocks the supernet trains: ``blocks`` if given, else every block with a merged form."""
        model = unwrap_model(runner.model)
        if self.blocks is not None:
            names = unit_names(model, self.blocks)
            check_mergeable(model, names)
            return names
        family, _ = find_backbone(model)
        return [unit.name for unit in prunable_units(model)
                if family.merge_blocker(unit.module) is None]

    def _start_supernet(self, runner) -> None:
        self._supernet = linearize_runner_units(runner, self._candidates(runner))
        self._calibrate(runner, self._supernet, blend=1.0)
        runner.logger.info(f'ProgressiveDepthHook: supernet phase over iterations 1..'
                           f'{self._begin_iter}: each of {self._supernet.names} runs its linear form '
                           f'with probability {self.supernet["prob"]}')

    def _sample_supernet(self, iteration: int) -> None:
        # Seeded by the iteration only: every rank, and a resumed run, draws the same choice.
        generator = random.Random(f'{self.supernet.get("seed", 0)}-{iteration}')
        for name in self._supernet.names:
            self._supernet.set_blend(1.0 if generator.random() < self.supernet['prob'] else 0.0,
                                     [name])

    def _calibrate(self, runner, blocks, blend: float) -> None:
        from mmsls.analysis.block_bypass import sample_training_batches
        model = unwrap_model(runner.model)
        previous = blocks.blends
        blocks.set_blend(blend)
        batches = sample_training_batches(runner.train_dataloader, self.calibrate_samples, seed=0)
        with torch.no_grad():
            inputs = [model.data_preprocessor(batch, False)['inputs'] for batch in batches]
        calibrate_linearized(model, blocks, inputs)
        for name, value in previous.items():
            blocks.set_blend(value, [name])

    def _choose_merged(self, runner) -> List[str]:
        model = unwrap_model(runner.model)
        if self.blocks is not None:
            names = unit_names(model, self.blocks)
            check_mergeable(model, names)
            return names
        if self.search is None:
            return self.choose(runner, self.selection, self.allow_empty_stages).removed
        options = dict(self.search)
        num_samples, seed = options.pop('num_samples', 256), options.pop('seed', 0)
        supernet = self._supernet

        def search():
            from mmsls.analysis.block_bypass import (sample_training_batches,
                                                     select_blocks_by_bypass)
            batches = sample_training_batches(runner.train_dataloader, num_samples, seed)
            selection = select_blocks_by_bypass(
                model, batches, replace='linear', linear_blocks=supernet,
                candidates=None if supernet is None else supernet.names, **options)
            runner.logger.info(f'merge search chose {list(selection.removed)}; '
                               f'{options.get("metric", "loss")} {selection.base_cost:.4f} -> '
                               f'{", ".join(f"{cost:.4f}" for cost in selection.costs)}')
            return list(selection.removed)

        return decide_on_rank0(search, 'the merge search')

    def _start_linear_fade(self, runner) -> None:
        self._names = self._choose_merged(runner)
        if not self._names:
            runner.logger.info('ProgressiveDepthHook: nothing to merge, the model keeps its blocks')
            self._removed = True
            return
        if self._supernet is not None:
            # The chosen blocks keep the stand-ins the supernet trained; the others go back.
            others = [name for name in self._supernet.names if name not in self._names]
            removed = [param for name in others for param in self._supernet.parameters([name])]
            self._supernet.detach(others)
            _drop_parameters(runner, removed)
            self._faded, self._supernet = self._supernet, None
            self._faded.set_blend(0.0)
        else:
            self._faded = linearize_runner_units(runner, self._names)
        self._calibrate(runner, self._faded, blend=0.0)
        runner.logger.info(f'ProgressiveDepthHook: linearising {self._names} ({self.schedule}) over '
                           f'iterations {self._begin_iter + 1}..{self._begin_iter + self._span_iters}'
                           ', then merging them')

    def _merge(self, runner, data_batch) -> None:
        model = unwrap_model(runner.model)
        verify = self.verify_removal and data_batch is not None
        before = _backbone_outputs(model, data_batch) if verify else None
        merged = merge_runner_units(runner, self._names)
        self._faded.forget(self._names)
        self._faded = None
        self._removed = True
        runner.logger.info(f'ProgressiveDepthHook: merged {self._names} after iteration '
                           f'{runner.iter + 1} into '
                           f'{", ".join(type(module).__name__ for module in merged.values())}')
        if verify:
            _report_output_change(runner, before,
                                  _backbone_outputs(unwrap_model(runner.model), data_batch),
                                  what='the merge')

    def _reset(self) -> None:
        if self._faded is not None:
            self._faded.detach()
        if self._supernet is not None:
            self._supernet.detach()
        self._faded, self._names, self._removed, self._supernet = None, None, False, None


def _report_output_change(runner, before: List[torch.Tensor], after: List[torch.Tensor],
                          what: str = 'removal') -> None:
    """Log how far the removal moved the backbone outputs; warn if they moved at all."""
    change = max((a - b).abs().max().item() for a, b in zip(before, after))
    scale = max(a.abs().max().item() for a in before)
    message = (f'ProgressiveDepthHook: {what} changed the backbone outputs on this batch by at '
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
    elif record.get('mode', 'remove') not in PROGRESSIVE_MODES:
        problem = f'"mode" must be one of {PROGRESSIVE_MODES}'
    elif record.get('supernet') is not None:
        names = record['supernet']
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names) \
                or not set(names) <= set(structure['kept']):
            problem = '"supernet" must list unit names present in the model'
        else:
            return
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
    elif record['removed'] and record.get('mode') == 'merge' and (record['blend'] != 1 or not set(
            record['blocks']) <= set(structure.get('merged', {}))):
        problem = 'merged blocks have blend 1 and are merged in the depth record'
    elif record['removed'] and record.get('mode', 'remove') == 'remove' and (
            record['blend'] != 1 or set(record['blocks']) & set(structure['kept'])):
        problem = 'removed blocks have blend 1 and are absent from the depth record\'s kept units'
    elif not record['removed'] and not set(record['blocks']) <= set(structure['kept']):
        problem = 'blocks still fading must be present in the model'
    else:
        return
    raise ValueError(f'the checkpoint\'s fade record (meta[{PROGRESSIVE_RECORD_KEY!r}]) is not valid: '
                     f'{problem}; got {record!r}. Use the checkpoint as ProgressiveDepthHook saved it')


def _check_merge_options(mode, supernet, begin, calibrate_samples) -> None:
    """Refuse merge-mode options that cannot work, naming the fix."""
    if mode not in PROGRESSIVE_MODES:
        raise ValueError(f'mode must be one of {PROGRESSIVE_MODES} (remove: fade blocks out and '
                         f'delete them; merge: UPDP, linearise and merge them), got {mode!r}')
    if isinstance(calibrate_samples, bool) or not isinstance(calibrate_samples, int) \
            or calibrate_samples < 1:
        raise ValueError(f'calibrate_samples must be an int >= 1, got {calibrate_samples!r}')
    if supernet is None:
        return
    if mode != 'merge':
        raise ValueError("supernet trains the blocks' linear forms, which only mode='merge' uses; "
                         "set mode='merge' or drop supernet")
    if not isinstance(supernet, dict) or set(supernet) - _SUPERNET_OPTIONS or 'prob' not in supernet:
        raise ValueError(f'supernet must be a dict with "prob" (and optionally "seed"), e.g. '
                         f'dict(prob=0.5), got {supernet!r}')
    prob = supernet['prob']
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 < prob <= 1:
        raise ValueError(f'supernet prob is the chance that a candidate runs its linear form in an '
                         f'iteration, in (0, 1], got {prob!r}')
    if begin == 0:
        raise ValueError('the supernet phase runs over the iterations before the fade: set begin > 0 '
                         '(its length), or drop supernet')


def _drop_parameters(runner, params) -> None:
    """Remove ``params`` (stand-ins of units no longer linearised) from the optimizer."""
    swap_optimizer_parameters(runner, params, params, [])
