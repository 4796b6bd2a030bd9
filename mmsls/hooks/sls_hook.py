"""SLS as a Runner hook: analyse the PETL-trained model, prune its depth, re-train."""
import os.path as osp
from typing import Optional, Sequence, Union

from mmengine.dist import broadcast, broadcast_object_list, is_main_process
from mmengine.hooks import Hook

from mmsls.adapters import named_adapters
from mmsls.analysis import analyze_layers, format_score_table, write_analysis
from mmsls.criteria.depth_rule import check_alpha
from mmsls.depth import depth_keep, find_backbone, prunable_units, unwrap_model
from mmsls.registry import HOOKS
from .runner_pruning import prune_runner_model

#: Message hub info key under which a dry-run SLSHook publishes the unit names it would keep.
SLS_KEEP_INFO_KEY = 'mmsls/sls_keep'

#: Key of the SLS decision in a checkpoint's ``meta``.
SLS_RECORD_KEY = 'mmsls_sls'


@HOOKS.register_module()
class SLSHook(Hook):
    """Choose the depth of a PETL-trained model with SLS, prune it, and let training re-train it.

    At ``before_train`` (after the Runner loaded ``load_from``), rank 0 captures every prunable
    unit's features on a class-balanced sample of the training dataloader's dataset, scores each
    layer (t-SNE + silhouette) and applies the SLS rule; the decision is broadcast, so every rank
    prunes alike (:func:`mmsls.hooks.prune_runner_model`). The kept depth k keeps the first k units
    plus every required unit (:func:`mmsls.depth.depth_keep`). Training then goes on as re-training
    with the config's schedule (see ``configs/sls/``).

    The work dir gets ``sls_scores.json``, ``sls_scores.png`` (score per layer, threshold, kept
    depth) and, with ``plot_tsne``, ``sls_tsne.png``; the scores also go to the logger and the
    visualizer (``sls/score_layer_<l>``). The decision is stored in every checkpoint's meta: a run
    resumed from (or loading) such a checkpoint keeps it, with the structure re-applied by
    :class:`DepthStructureHook`, instead of analysing the pruned model again.

    Args:
        alpha (float): Threshold fraction of the SLS rule, in (0, 1]. Defaults to 0.3.
        num_samples (int): Sample size N: images, boxes (detection) or tokens (segmentation); all
            images if the training set is smaller. Defaults to 1000.
        backend (str): Criterion backend: ``'sklearn'`` (reference), ``'fast'`` or ``'torch'``.
            Defaults to ``'sklearn'``.
        keep (int | Sequence[int], optional): Skip the analysis and keep this depth k (int) or these
            positions into ``prunable_units(model)`` (list). Defaults to None.
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
        pipeline (Sequence[dict], optional): Transforms to load the sample with instead of the
            training pipeline, e.g. the config's ``test_pipeline`` for unaugmented inputs (dense
            tasks: annotations must be loaded before any geometric transform). Defaults to None.
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
                 keep: Optional[Union[int, Sequence[int]]] = None,
                 dry_run: bool = False,
                 iterative: bool = False,
                 iterative_interval: Optional[int] = None,
                 reinit_adapters: bool = False,
                 seed: int = 0,
                 batch_size: Optional[int] = None,
                 pipeline: Optional[Sequence[dict]] = None,
                 task: str = 'auto',
                 max_images: Optional[int] = None,
                 tokens_per_class_per_image: int = 2,
                 plot_tsne: bool = False,
                 criterion_options: Optional[dict] = None):
        check_alpha(alpha)
        _check_keep(keep)
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
        self.alpha = alpha
        self.num_samples = num_samples
        self.backend = backend
        self.keep = keep
        self.dry_run = dry_run
        self.iterative = iterative
        self.iterative_interval = iterative_interval
        self.reinit_adapters = reinit_adapters
        self.seed = seed
        self.batch_size = batch_size
        self.pipeline = None if pipeline is None else list(pipeline)
        self.task = task
        self.max_images = max_images
        self.tokens_per_class_per_image = tokens_per_class_per_image
        self.plot_tsne = plot_tsne
        self.criterion_options = dict(criterion_options or {})
        self._loaded_record: Optional[dict] = None
        self._record: Optional[dict] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded_record = (checkpoint.get('meta') or {}).get(SLS_RECORD_KEY)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
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
        record, error = None, None
        if is_main_process():
            try:
                record = self._decide(runner)
            except Exception as exc:  # re-raised below, once the other ranks know
                error = exc
        shared = [record, None if error is None else f'{type(error).__name__}: {error}']
        broadcast_object_list(shared)
        if error is not None:
            raise error
        if shared[1] is not None:
            raise RuntimeError(f'the SLS analysis failed on rank 0: {shared[1]}')
        record = shared[0]
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

    def _decide(self, runner) -> dict:
        """Rank 0: the kept units, from ``keep`` or from the analysis (report written)."""
        model = unwrap_model(runner.model)
        units = prunable_units(model)
        names = [unit.name for unit in units]
        record = dict(units=names, start_iter=runner.iter, alpha=self.alpha,
                      iterative_interval=self.iterative_interval)
        if self.keep is not None:
            positions = depth_keep(model, self.keep) if isinstance(self.keep, int) else self.keep
            kept = [names[position] for position in sorted(positions) if 0 <= position < len(names)]
            if len(kept) != len(positions):
                raise ValueError(f'keep={self.keep!r} names positions outside 0..{len(names) - 1} '
                                 f'(the {len(names)} prunable units)')
            runner.logger.info(f'SLS: keep={self.keep!r} given, no analysis: keeping {kept}')
            depth = self.keep if isinstance(self.keep, int) else len(kept)
            return dict(record, source='keep', kept_depth=depth, kept_units=kept)
        dataset = runner.train_dataloader.dataset
        runner.logger.info(f'SLS: capturing the features of {len(names)} units on up to '
                           f'{self.num_samples} samples of the training set '
                           f'({len(dataset)} images)')
        analysis = analyze_layers(
            model, dataset, alpha=self.alpha, num_samples=self.num_samples, backend=self.backend,
            seed=self.seed, return_embeddings=self.plot_tsne,
            criterion_options=self.criterion_options,
            batch_size=self.batch_size or runner.cfg.train_dataloader.get('batch_size', 8),
            pipeline=self.pipeline, task=self.task, max_images=self.max_images,
            tokens_per_class_per_image=self.tokens_per_class_per_image)
        runner.logger.info('SLS scores (t-SNE silhouette per layer):\n' + format_score_table(
            analysis, [self.alpha], required=[unit.required for unit in units]))
        depth = analysis.selection.kept_depth
        applied = _smallest_feasible_depth(model, depth)
        if applied != depth:
            runner.logger.warning(f'SLS: kept depth {depth} is too shallow for this model\'s '
                                  f'outputs; keeping {applied}, the smallest depth it supports')
        kept = [names[position] for position in depth_keep(model, applied)]
        paths = write_analysis(runner.work_dir, analysis, extra=dict(
            applied_depth=applied, kept_units=kept, pruned=not self.dry_run,
            iterative=self.iterative, reinit_adapters=self.reinit_adapters))
        runner.logger.info(f'SLS: {len(analysis.labels)} samples from {analysis.num_images} '
                           f'images, capture {analysis.capture_seconds:.1f} s, scoring '
                           f'{analysis.scoring_seconds:.1f} s; report in '
                           f'{", ".join(osp.basename(path) for path in paths.values())}')
        scalars = {f'sls/score_layer_{layer}': score
                   for layer, score in enumerate(analysis.scores, start=1)}
        scalars.update({'sls/threshold': analysis.selection.threshold, 'sls/kept_depth': depth})
        runner.visualizer.add_scalars(scalars, step=runner.iter)
        return dict(record, source='analysis', kept_depth=depth, applied_depth=applied,
                    kept_units=kept, scores=analysis.scores,
                    threshold=analysis.selection.threshold)

    def _remove_due_units(self, runner, completed: Optional[int] = None) -> None:
        """Prune towards the decision: all at once, or (iterative) the units whose time has come.

        Removal j (1-based, top unit first) is due once ``start_iter + (j - 1) * interval``
        iterations are complete; the count of removals done is read off the model, so a resumed
        run continues the same schedule. A model loaded already pruned (the structure re-applied
        by DepthStructureHook) has nothing left to remove.
        """
        record = self._record
        current = [unit.name for unit in prunable_units(runner.model)]
        surplus = [name for name in current if name not in record['kept_units']]
        if not self.iterative:
            if surplus:
                prune_runner_model(runner, [current.index(name) for name in record['kept_units']])
            return
        completed = runner.iter if completed is None else completed
        removed = len(record['units']) - len(current)
        interval = record['iterative_interval'] or self.iterative_interval
        while surplus and completed >= record['start_iter'] + removed * interval:
            top = surplus.pop()
            prune_runner_model(runner, [pos for pos, name in enumerate(current) if name != top])
            current.remove(top)
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


def _smallest_feasible_depth(model, depth: int) -> int:
    """``depth``, or the smallest larger depth whose pruned structure the backbone supports.

    A backbone may need a minimum of units, e.g. a ViT with four outputs (SETR) keeps at least four
    layers. The family's ``attributes_after`` checks a keep set without changing the model and
    refuses an unsupported one with a ValueError.
    """
    family, backbone = find_backbone(model)
    units = family.units(backbone)
    for candidate in range(depth, len(units)):
        try:
            family.attributes_after(backbone, [units[pos] for pos in depth_keep(model, candidate)])
        except ValueError:
            continue
        return candidate
    return len(units)


def _check_keep(keep) -> None:
    if keep is None:
        return
    if isinstance(keep, int) and not isinstance(keep, bool):
        if keep < 1:
            raise ValueError(f'keep as a depth must be >= 1, got {keep}')
        return
    if not isinstance(keep, (list, tuple)) or not keep or not all(
            isinstance(position, int) and not isinstance(position, bool) for position in keep):
        raise ValueError('keep must be a depth k (int) or a non-empty list of int positions into '
                         f'prunable_units(model), got {keep!r}')
