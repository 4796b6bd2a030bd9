"""SLS as a Runner hook: analyse the PETL-trained model, prune its depth, re-train."""
from typing import Optional, Sequence, Union

from mmengine.dist import broadcast

from mmsls.adapters import named_adapters
from mmsls.depth import depth_structure, prunable_units
from mmsls.registry import HOOKS
from .runner_pruning import DepthPruningHook, prune_runner_to_units
from .selection import FirstUnitsSelection, SLSSelection, UnitsSelection, check_unit_spec

#: Message hub info key under which a dry-run SLSHook publishes the unit names it would keep.
SLS_KEEP_INFO_KEY = 'mmsls/sls_keep'

#: Key of the SLS decision in a checkpoint's ``meta``.
SLS_RECORD_KEY = 'mmsls_sls'


@HOOKS.register_module()
class SLSHook(DepthPruningHook):
    """Choose the depth of a PETL-trained model with SLS, prune it, and let training re-train it.

    At ``before_train`` (after the Runner loaded ``load_from``), rank 0 captures every prunable
    unit's features on a class-balanced sample of the training dataloader's dataset, scores each
    layer (t-SNE + silhouette) and applies the SLS rule; the decision is broadcast, so every rank
    prunes alike (:func:`mmsls.hooks.prune_runner_model`). The kept depth k keeps the first k units
    plus every required unit (:func:`mmsls.depth.depth_keep`). Training then goes on as re-training
    with the config's schedule (see ``configs/sls/``).

    The work dir gets ``sls_scores.json``, ``sls_scores.png`` (score per layer, threshold, kept
    depth) and, with ``plot_tsne``, ``sls_tsne.png``; the scores also go to the logger and the
    visualizer (one series ``sls/score`` against the layer, and the figures). The decision (``meta['mmsls_sls']``) and the pruned
    structure (``meta['mmsls_depth']``) go into every checkpoint: a run resumed from (or loading)
    such a checkpoint gets its structure back before the weights load and keeps the decision, instead
    of analysing the pruned model again; this works through any ``train.py`` that imports mmsls.

    The analysis is :class:`~mmsls.hooks.selection.SLSSelection` (*what*); this hook adds *when*: at
    once, or one unit at a time (``iterative``). ``ProgressiveDepthHook(select=dict(
    type='SLSSelection', ...))`` fades the same choice out instead.

    Args:
        alpha (float): Threshold fraction of the SLS rule, in (0, 1]. Defaults to 0.3.
        num_samples (int): Sample size N: images, boxes (detection) or tokens (segmentation); all
            images if the training set is smaller. Defaults to 1000.
        backend (str): Criterion backend: ``'sklearn'`` (reference), ``'fast'`` or ``'torch'``.
            Defaults to ``'sklearn'``.
        keep (int | Sequence[int | str], optional): Skip the analysis and keep this depth k (int),
            or these positions into ``prunable_units(model)`` / unit names (list). Defaults to None.
        dry_run (bool): Analyse and write the report, prune nothing. Defaults to False.
        iterative (bool): Remove one unit at a time, the top one first: one at ``before_train``,
            then one every ``iterative_interval`` iterations until the chosen depth is reached,
            re-training in between. Defaults to False.
        iterative_interval (int, optional): Iterations between two removals; needed by
            ``iterative``. Defaults to None.
        reinit_adapters (bool): Re-initialise the adapters after pruning (the TFS re-training
            strategy: train them from scratch). Defaults to False.
        seed (int): Seed of the sample and of t-SNE. Defaults to 0.
        batch_size (int, optional): Images per forward pass of the analysis. Defaults to None: the
            training dataloader's ``batch_size``.
        pipeline (str | Sequence[dict], optional): Transforms to load the training-set sample
            with. None (or ``'test'``): unaugmented, the config's ``test_pipeline`` (else the
            val dataloader's) with the annotations loaded first, as the SLS authors use evaluation
            transforms (:func:`mmsls.analysis.analysis_pipeline`); ``'train'``: the training
            pipeline, augmentations seeded; or a list of transforms (dense tasks: annotations
            loaded before any geometric transform). Defaults to None.
        task (str): ``'auto'``, ``'classification'``, ``'detection'`` or ``'segmentation'``.
            Defaults to ``'auto'`` (from the dataset's annotations).
        max_images (int, optional): Dense tasks: most images visited to fill the per-class quotas.
            Defaults to None (``num_samples``).
        tokens_per_class_per_image (int): Segmentation: most tokens of one class per image.
            Defaults to 2.
        plot_tsne (bool): Also write the grid of per-layer t-SNE plots. Defaults to False.
        criterion_options (dict, optional): Options of the criterion backend (e.g.
            ``num_workers`` for ``'fast'``, ``device`` for ``'torch'``). Defaults to None.
    """

    # After DepthStructureHook (VERY_HIGH), which re-applies a recorded structure on load.
    priority = 'NORMAL'

    def __init__(self,
                 alpha: float = 0.3,
                 num_samples: int = 1000,
                 backend: str = 'sklearn',
                 keep: Optional[Union[int, Sequence[Union[int, str]]]] = None,
                 dry_run: bool = False,
                 iterative: bool = False,
                 iterative_interval: Optional[int] = None,
                 reinit_adapters: bool = False,
                 seed: int = 0,
                 batch_size: Optional[int] = None,
                 pipeline: Union[None, str, Sequence[dict]] = None,
                 task: str = 'auto',
                 max_images: Optional[int] = None,
                 tokens_per_class_per_image: int = 2,
                 plot_tsne: bool = False,
                 criterion_options: Optional[dict] = None):
        if dry_run and (keep is not None or iterative or reinit_adapters):
            raise ValueError('dry_run=True analyses and prunes nothing; it cannot go with keep, '
                             'iterative or reinit_adapters. Drop dry_run to prune')
        if iterative != (iterative_interval is not None):
            raise ValueError('iterative=True needs iterative_interval (iterations of re-training '
                             'between two removals), and iterative_interval needs iterative=True; '
                             f'got iterative={iterative}, iterative_interval={iterative_interval}')
        if iterative and (isinstance(iterative_interval, bool)
                          or not isinstance(iterative_interval, int) or iterative_interval < 1):
            raise ValueError('iterative_interval must be a positive int, got '
                             f'{iterative_interval!r}')
        # Built (and so validated) even with ``keep``: a wrong option fails now, not in a later run.
        self.analysis = SLSSelection(
            alpha=alpha, num_samples=num_samples, backend=backend, seed=seed,
            batch_size=batch_size, pipeline=pipeline, task=task, max_images=max_images,
            tokens_per_class_per_image=tokens_per_class_per_image, plot_tsne=plot_tsne,
            criterion_options=criterion_options, report_extra=dict(
                pruned=not dry_run, iterative=iterative, reinit_adapters=reinit_adapters))
        if keep is None:
            self.selection = self.analysis
        else:
            check_unit_spec(keep, 'keep')
            self.selection = FirstUnitsSelection(keep) if isinstance(keep, int) else UnitsSelection(
                keep=keep, name='keep')
        self.alpha = alpha
        self.keep = keep
        self.dry_run = dry_run
        self.iterative = iterative
        self.iterative_interval = iterative_interval
        self.reinit_adapters = reinit_adapters
        self._loaded_record: Optional[dict] = None
        self._record: Optional[dict] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        super().after_load_checkpoint(runner, checkpoint)
        record = (checkpoint.get('meta') or {}).get(SLS_RECORD_KEY)
        if record is not None:
            _check_record(record, depth_structure(runner.model)['units'])
        self._loaded_record = record

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        super().before_save_checkpoint(runner, checkpoint)
        if self._record is not None:
            checkpoint.setdefault('meta', {})[SLS_RECORD_KEY] = self._record

    def before_train(self, runner) -> None:
        if self._loaded_record is not None:
            self._record = self._loaded_record
            runner.logger.info(f'SLS: kept depth {self._record["kept_depth"]} decided at iteration '
                               f'{self._record["start_iter"]} comes with the loaded checkpoint; '
                               'the model is not analysed again')
            self._remove_due_units(runner)
            return
        choice = self.choose(runner, self.selection)
        record = dict(units=choice.units, start_iter=runner.iter, alpha=self.alpha,
                      iterative_interval=self.iterative_interval, kept_units=choice.kept)
        if self.keep is None:
            record.update(choice.info)
        else:
            runner.logger.info(f'SLS: keep={self.keep!r} given, no analysis: keeping {choice.kept}')
            record.update(source='keep', kept_depth=self.keep if isinstance(self.keep, int) else
                          len(choice.kept))
        if self.dry_run:
            # The handover to a ProgressiveDepthHook(keep_from=SLS_KEEP_INFO_KEY) in the same run.
            runner.message_hub.update_info(SLS_KEEP_INFO_KEY, record['kept_units'])
            runner.logger.info('SLS dry run: the model keeps all its units; the decision is in the '
                               f'message hub under {SLS_KEEP_INFO_KEY!r}')
            return
        self._record = record
        self._remove_due_units(runner)
        if self.reinit_adapters:
            self._reinit_adapters(runner)
        self._log_structure(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.iterative and self._record is not None:
            self._remove_due_units(runner, completed=runner.iter + 1)

    def _remove_due_units(self, runner, completed: Optional[int] = None) -> None:
        """Prune towards the decision: all at once, or (iterative) the units whose time has come.

        Removal j (1-based, top unit first) is due once ``start_iter + (j - 1) * interval``
        iterations are complete; the count of removals done is read off the model, so a resumed
        run continues the same schedule. A model loaded already pruned (the structure re-applied
        from the checkpoint) has nothing left to remove.
        """
        record = self._record
        current = [unit.name for unit in prunable_units(runner.model)]
        surplus = [name for name in current if name not in record['kept_units']]
        if not self.iterative:
            if surplus:
                prune_runner_to_units(runner, record['kept_units'])
            return
        completed = runner.iter if completed is None else completed
        removed = len(record['units']) - len(current)
        interval = record['iterative_interval'] or self.iterative_interval
        while surplus and completed >= record['start_iter'] + removed * interval:
            top = surplus.pop()
            current.remove(top)
            prune_runner_to_units(runner, current)
            removed += 1
            runner.logger.info(f'SLS (iterative): removed {top} after {completed} iterations; '
                               f'{len(current)} units left, {len(surplus)} more to remove')

    def _reinit_adapters(self, runner) -> None:
        """TFS: the adapters start again from their initialisation, identical on every rank."""
        adapters = [adapter for _, adapter in named_adapters(runner.model)]
        if not adapters:
            raise ValueError('reinit_adapters=True, but the model has no adapters (RepAdapter, '
                             'Convpass): wrap its backbone in mmsls.AdaptedBackbone, or drop '
                             'reinit_adapters')
        for adapter in adapters:
            adapter.reset_parameters()
            for param in adapter.parameters():
                broadcast(param.data)  # ranks drew different random inits
        runner.logger.info(f'SLS: re-initialised {len(adapters)} adapters (train from scratch)')

    def _log_structure(self, runner) -> None:
        units = [unit.name for unit in prunable_units(runner.model)]
        runner.logger.info(f'SLS: the model now has {len(units)} of {len(self._record["units"])} '
                           f'units: {units}')


def _check_record(record, units) -> None:
    """Refuse a malformed SLS decision read from a checkpoint, naming what is wrong."""

    def is_int(value, lowest):
        return isinstance(value, int) and not isinstance(value, bool) and value >= lowest

    def is_names(value):
        return isinstance(value, list) and value and all(isinstance(name, str) for name in value)

    if not isinstance(record, dict):
        problem = 'it is not a dict'
    elif not is_names(record.get('units')) or not is_names(record.get('kept_units')):
        problem = '"units" and "kept_units" must be non-empty lists of unit names'
    elif len(set(record['kept_units'])) != len(record['kept_units']) or not set(
            record['kept_units']) <= set(record['units']):
        problem = '"kept_units" must list distinct units out of "units"'
    elif list(record['units']) != list(units):
        problem = (f'it was made on a backbone with units {record["units"]}, this model has {units}; '
                   'build the model from the config the checkpoint was trained with')
    elif not is_int(record.get('start_iter'), 0) or not is_int(record.get('kept_depth'), 1):
        problem = '"start_iter" must be an int >= 0 and "kept_depth" an int >= 1'
    elif record.get('iterative_interval') is not None and not is_int(record['iterative_interval'], 1):
        problem = '"iterative_interval" must be None or an int >= 1'
    else:
        return
    raise ValueError(f'the checkpoint\'s SLS decision (meta[{SLS_RECORD_KEY!r}]) is not valid: '
                     f'{problem}; got {record!r}. Use the checkpoint as SLSHook saved it, or delete '
                     f'meta[{SLS_RECORD_KEY!r}] to analyse the model again')
