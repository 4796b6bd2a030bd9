"""What to remove: one interface over the ways a depth-pruning hook chooses the units it keeps.

A selection (the *what*) looks at the Runner's model, and some at its training data, and proposes
units to keep or to remove; :func:`kept_unit_names`, the one normaliser, turns every proposal into
the kept unit names and validates it. The hooks decide *when*: :class:`PruneDepthHook` before
training, :class:`SLSHook` at once or one unit at a time, :class:`ProgressiveDepthHook` after a fade
(Torch-Pruning likewise separates the importance from the pruner's ``iterative_steps``).

Selections are built from config dicts through :data:`SELECTIONS`, e.g.
``ProgressiveDepthHook(select=dict(type='SLSSelection', alpha=0.3))``:

================================  =================================================================
``FirstUnitsSelection(depth)``    the first ``depth`` units plus every required one
``UnitsSelection(keep=...)``      unit names or positions to keep (``remove=...``: to remove)
``SLSSelection(alpha=...)``       SLS's analysis (t-SNE + silhouette per layer) on the training set
``BypassSearch(...)``             UPDP's subnet search (greedy bypass of the cheapest blocks)
``MessageHubSelection(key)``      units to keep that another hook left in the message hub
================================  =================================================================
"""
import operator
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Sequence, Union

from mmengine.registry import Registry
from torch import nn

from mmsls.analysis import (add_to_visualizer, analysis_pipeline, analyze_layers,
                            format_score_table, write_analysis)
from mmsls.analysis.sampling import PIPELINE_CHOICES
from mmsls.criteria import LAYER_SCORERS
from mmsls.criteria.depth_rule import check_alpha
from mmsls.criteria.selection import AUTO_BACKEND
from mmsls.depth import checked_keep, depth_keep, find_backbone, prunable_units, unwrap_model
from mmsls.reporting import warnings_to_logger

#: The selection types, by class name (``'SLSSelection'`` or ``'mmsls.SLSSelection'``).
SELECTIONS = Registry('unit selection', scope='mmsls')

UnitSpec = Union[int, Sequence[Union[str, int]]]


# -- The one normaliser ----------------------------------------------------------------------------

def check_unit_spec(spec, name: str, allow_depth: bool = True) -> None:
    """Check the form of a keep/remove argument, before any model exists (hooks' constructors).

    Args:
        spec: A depth k (int >= 1; only with ``allow_depth``), or a non-empty list of unit names
            (``'layers.3'``) and positions into ``prunable_units(model)``.
        name (str): The argument's name, for the error message.
        allow_depth (bool): Whether a depth k is a valid form. Defaults to True.

    Raises:
        ValueError: Naming the argument, what it got and the valid forms.
    """
    forms = ('a depth k (int >= 1) or ' if allow_depth else '') + \
        'a non-empty list of unit names (e.g. "layers.3") or int positions into prunable_units(model)'
    if _is_int(spec) and allow_depth:
        if spec < 1:
            raise ValueError(f'{name} must be an int >= 1 (a depth k: the number of units kept), '
                             f'got {spec!r}')
        return
    if isinstance(spec, (str, bytes)) or not isinstance(spec, (list, tuple)) or not spec \
            or not all(isinstance(entry, str) or _is_int(entry) for entry in spec):
        raise ValueError(f'{name} must be {forms}, got {spec!r}')


def kept_unit_names(model: nn.Module,
                    keep: Optional[UnitSpec] = None,
                    remove: Optional[Sequence[Union[str, int]]] = None,
                    source: str = 'keep',
                    allow_empty_stages: bool = False) -> List[str]:
    """The unit names to keep, in forward order, from exactly one of ``keep`` and ``remove``.

    Every selection goes through here, so what a hook will prune is checked in one place: names that
    are not units, positions out of range, units listed twice, then, through
    :func:`mmsls.depth.checked_keep` (what :func:`mmsls.depth.prune_depth` checks), nothing left,
    blocks that cannot be removed, and required units (the first block of a Swin or CNN stage)
    dropped without ``allow_empty_stages``.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone (its current units count).
        keep (int | Sequence[str | int], optional): A depth k (:func:`mmsls.depth.depth_keep`), or
            unit names / positions into ``prunable_units(model)`` to keep.
        remove (Sequence[str | int], optional): Unit names / positions to remove.
        source (str): What proposed the units, for error messages. Defaults to ``'keep'``.
        allow_empty_stages (bool): Allow dropping required units. Defaults to False.

    Returns:
        list[str]: The kept unit names, in the order :func:`prunable_units` lists them.
    """
    if (keep is None) == (remove is None):
        raise ValueError(f'{source}: give exactly one of keep and remove')
    spec = keep if remove is None else remove
    check_unit_spec(spec, source, allow_depth=remove is None)
    family, backbone = find_backbone(model)
    units = family.units(backbone)
    names = [unit.name for unit in units]
    if _is_int(spec):
        listed = [names[position] for position in depth_keep(model, spec)]
    else:
        listed = [_unit_name(entry, names, source) for entry in spec]
        twice = sorted({name for name in listed if listed.count(name) > 1})
        if twice:
            raise ValueError(f'{source} lists {twice} more than once; list each unit once')
    positions = [position for position, name in enumerate(names)
                 if (name in listed) == (remove is None)]
    try:
        positions = checked_keep(units, positions, family, allow_empty_stages)
    except ValueError as error:
        raise ValueError(f'{source}: {error}') from None
    return [names[position] for position in positions]


def _unit_name(entry, names: List[str], source: str) -> str:
    """A unit name from a name or a position into ``names``, or a clear error."""
    if isinstance(entry, str):
        if entry not in names:
            raise ValueError(f'{source}: {entry!r} is not a prunable unit of this model; its units '
                             f'are {names}')
        return entry
    if _is_int(entry) and 0 <= entry < len(names):
        return names[operator.index(entry)]
    raise ValueError(f'{source}: position {entry!r} is out of range: prunable_units(model) lists '
                     f'{len(names)} units (positions 0..{len(names) - 1})')


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- The interface ---------------------------------------------------------------------------------

class Proposal(NamedTuple):
    """What a selection proposes: ``keep`` or ``remove`` (see :func:`kept_unit_names`), and ``info``,
    JSON-safe details for logs and checkpoint records (e.g. SLS's scores)."""
    keep: Optional[UnitSpec] = None
    remove: Optional[Sequence[Union[str, int]]] = None
    info: Optional[dict] = None


class UnitChoice(NamedTuple):
    """A checked decision: the model's unit names when it was taken, those kept, and details."""
    units: List[str]
    kept: List[str]
    info: dict

    @property
    def removed(self) -> List[str]:
        return [name for name in self.units if name not in self.kept]


class UnitSelection:
    """What to remove. Subclasses implement :meth:`propose`; hooks call :meth:`choose`.

    :meth:`choose` may read data and draw random numbers, so hooks run it on rank 0 only and
    broadcast the result (:func:`mmsls.hooks.broadcast.decide_on_rank0`). Constructors validate their
    arguments, so a bad config fails when the hook is built.
    """

    def propose(self, runner, model: nn.Module) -> Proposal:
        """The units to keep or to remove from ``model`` (unwrapped), for ``runner``'s run."""
        raise NotImplementedError

    def choose(self, runner, allow_empty_stages: bool = False) -> UnitChoice:
        """The checked choice for ``runner.model``, through :func:`kept_unit_names`."""
        model = unwrap_model(runner.model)
        proposal = self.propose(runner, model)
        kept = kept_unit_names(model, proposal.keep, proposal.remove, source=self.source,
                               allow_empty_stages=allow_empty_stages)
        return UnitChoice([unit.name for unit in prunable_units(model)], kept,
                          dict(proposal.info or {}))

    @property
    def source(self) -> str:
        """How error messages name this selection."""
        return type(self).__name__


def build_selection(cfg: Union[dict, UnitSelection]) -> UnitSelection:
    """A selection from a config dict (``dict(type='FirstUnitsSelection', depth=6)``) or as given."""
    if isinstance(cfg, UnitSelection):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'a selection is a dict with a "type" among {sorted(SELECTIONS.module_dict)} '
                         f'and its arguments, or a UnitSelection; got {cfg!r}')
    args = dict(cfg)
    kind = args.pop('type')
    cls = kind if isinstance(kind, type) else SELECTIONS.get(kind)
    if cls is None or not issubclass(cls, UnitSelection):
        raise ValueError(f'unknown selection type {kind!r}; the types are '
                         f'{sorted(SELECTIONS.module_dict)}')
    return cls(**args)


# -- The selections --------------------------------------------------------------------------------

@SELECTIONS.register_module()
class FirstUnitsSelection(UnitSelection):
    """Keep the first ``depth`` units in forward order plus every required unit (a kept depth k)."""

    def __init__(self, depth: int):
        if not _is_int(depth):
            raise ValueError(f'depth must be an int >= 1 (a depth k: the number of units kept), got '
                             f'{depth!r}')
        check_unit_spec(depth, 'depth')
        self.depth = depth

    def propose(self, runner, model) -> Proposal:
        return Proposal(keep=self.depth, info=dict(source='depth', depth=self.depth))

    @property
    def source(self) -> str:
        return f'depth={self.depth}'


@SELECTIONS.register_module()
class UnitsSelection(UnitSelection):
    """Explicit units: names (``'layers.3'``) or positions into ``prunable_units(model)``.

    Args:
        keep (Sequence[str | int], optional): The units to keep.
        remove (Sequence[str | int], optional): Or the units to remove.
        name (str): The argument these came from in the hook, for error messages.
            Defaults to ``'keep'`` or ``'remove'``.
    """

    def __init__(self, keep=None, remove=None, name: Optional[str] = None):
        if (keep is None) == (remove is None):
            raise ValueError('UnitsSelection needs exactly one of keep and remove, got '
                             f'keep={keep!r}, remove={remove!r}')
        self.name = name or ('keep' if remove is None else 'remove')
        check_unit_spec(keep if remove is None else remove, self.name, allow_depth=False)
        self.keep = None if keep is None else list(keep)
        self.remove = None if remove is None else list(remove)

    def propose(self, runner, model) -> Proposal:
        return Proposal(keep=self.keep, remove=self.remove, info=dict(source='units'))

    @property
    def source(self) -> str:
        return f'{self.name}={self.keep if self.remove is None else self.remove!r}'


@SELECTIONS.register_module()
class MessageHubSelection(UnitSelection):
    """Units to keep that another hook of the same run published as a message hub info.

    The value under ``key`` may be a depth k, or unit names / positions to keep.
    ``'mmsls/sls_keep'`` is where ``SLSHook(dry_run=True)`` publishes its decision.
    """

    def __init__(self, key: str):
        if not isinstance(key, str) or not key:
            raise ValueError(f'keep_from must be a message hub info key (str), got {key!r}')
        self.key = key

    def propose(self, runner, model) -> Proposal:
        keep = runner.message_hub.get_info(self.key)
        if keep is None:
            raise ValueError(f'no units to keep under message hub info {self.key!r}: the hook that '
                             'decides must run before this one (for SLS: SLSHook with dry_run=True '
                             'in custom_hooks, or select=dict(type="SLSSelection") in this hook)')
        return Proposal(keep=keep, info=dict(source='message_hub', key=self.key))

    @property
    def source(self) -> str:
        return f'message hub info {self.key!r}'


@SELECTIONS.register_module()
class BypassSearch(UnitSelection):
    """UPDP's subnet search on a seeded sample of the training set.

    Greedily bypasses the non-required block whose removal raises the training loss (or error) the
    least, until ``num_remove`` blocks or ``flops_ratio`` of the backbone FLOPs are removed
    (:func:`mmsls.analysis.block_bypass.select_blocks_by_bypass`).

    Args:
        num_remove (int, optional): How many blocks to remove.
        flops_ratio (float, optional): Or the share of the backbone FLOPs to remove, in (0, 1).
        num_samples (int): Training images the costs are measured on. Defaults to 256.
        metric (str): ``'loss'`` or ``'error'``. Defaults to ``'loss'``.
        seed (int): Seed of the sample. Defaults to 0.
    """

    def __init__(self, num_remove: Optional[int] = None, flops_ratio: Optional[float] = None,
                 num_samples: int = 256, metric: str = 'loss', seed: int = 0):
        if (num_remove is None) == (flops_ratio is None):
            raise ValueError('search needs exactly one of num_remove (a block count) and flops_ratio '
                             f'(a share of the backbone FLOPs), got num_remove={num_remove!r}, '
                             f'flops_ratio={flops_ratio!r}')
        if num_remove is not None and (not _is_int(num_remove) or num_remove < 1):
            raise ValueError(f'num_remove must be an int >= 1, got {num_remove!r}')
        if flops_ratio is not None and (isinstance(flops_ratio, bool) or not isinstance(
                flops_ratio, (int, float)) or not 0 < flops_ratio < 1):
            raise ValueError(f'flops_ratio must be a number in (0, 1), got {flops_ratio!r}')
        _check_positive_int(num_samples, 'num_samples')
        if metric not in ('loss', 'error'):
            raise ValueError(f"metric must be 'loss' or 'error', got {metric!r}")
        _check_seed(seed)
        self.num_remove, self.flops_ratio = num_remove, flops_ratio
        self.num_samples, self.metric, self.seed = num_samples, metric, seed

    def propose(self, runner, model) -> Proposal:
        from mmsls.analysis.block_bypass import sample_training_batches, select_blocks_by_bypass
        batches = sample_training_batches(runner.train_dataloader, self.num_samples, self.seed)
        selection = select_blocks_by_bypass(model, batches, num_remove=self.num_remove,
                                            flops_ratio=self.flops_ratio, metric=self.metric)
        removed = list(selection.removed)
        runner.logger.info(f'bypass search chose {removed}; {self.metric} '
                           f'{selection.base_cost:.4f} -> '
                           f'{", ".join(f"{cost:.4f}" for cost in selection.costs)}')
        return Proposal(remove=removed, info=dict(source='bypass_search', metric=self.metric,
                                                  costs=[float(c) for c in selection.costs]))

    @property
    def source(self) -> str:
        return 'the bypass search'


@SELECTIONS.register_module()
class SLSSelection(UnitSelection):
    """SLS: score every layer's features on a class-balanced sample of the training set, keep the
    depth the SLS rule chooses (or the smallest larger one the backbone supports).

    Writes ``sls_scores.json`` / ``sls_scores.png`` (and ``sls_tsne.png`` with ``plot_tsne``) to the
    work dir, logs the score table and sends the scores (one series ``sls/score`` against the
    layer) and the figures to the visualizer.

    Args:
        alpha (float): Threshold fraction of the SLS rule, in (0, 1]. Defaults to 0.3.
        num_samples (int): Sample size N: images, boxes (detection) or tokens (segmentation).
            Defaults to 1000.
        backend (str): Criterion backend, e.g. ``'sklearn'`` (reference), ``'fast'``, ``'torch'``.
            Defaults to ``'sklearn'``.
        seed (int): Seed of the sample and of t-SNE. Defaults to 0.
        batch_size (int, optional): Images per forward pass. Defaults to the training dataloader's.
        pipeline (str | Sequence[dict], optional): Transforms to load the sample with: None or
            ``'test'`` (unaugmented, see :func:`mmsls.analysis.analysis_pipeline`), ``'train'`` or
            a list of transforms. Defaults to None.
        task (str): ``'auto'``, ``'classification'``, ``'detection'`` or ``'segmentation'``.
        max_images (int, optional): Dense tasks: most images visited. Defaults to None.
        tokens_per_class_per_image (int): Segmentation: most tokens of a class per image.
            Defaults to 2.
        plot_tsne (bool): Also write the per-layer t-SNE plots. Defaults to False.
        criterion_options (dict, optional): Options of the criterion backend. Defaults to None.
        report_extra (dict, optional): More fields for ``sls_scores.json`` (the hooks say there
            whether the model is pruned). Defaults to None.
    """

    def __init__(self,
                 alpha: float = 0.3,
                 num_samples: int = 1000,
                 backend: str = 'sklearn',
                 seed: int = 0,
                 batch_size: Optional[int] = None,
                 pipeline: Union[None, str, Sequence[dict]] = None,
                 task: str = 'auto',
                 max_images: Optional[int] = None,
                 tokens_per_class_per_image: int = 2,
                 plot_tsne: bool = False,
                 criterion_options: Optional[dict] = None,
                 report_extra: Optional[dict] = None):
        check_alpha(alpha)
        _check_positive_int(num_samples, 'num_samples')
        _check_seed(seed)
        for name, value in (('batch_size', batch_size), ('max_images', max_images)):
            if value is not None:
                _check_positive_int(value, name)
        _check_positive_int(tokens_per_class_per_image, 'tokens_per_class_per_image')
        tasks = ('auto', 'classification', 'detection', 'segmentation')
        if task not in tasks:
            raise ValueError(f'task must be one of {tasks}, got {task!r}')
        transforms = isinstance(pipeline, (list, tuple)) and all(
            isinstance(transform, dict) for transform in pipeline)
        if not (pipeline is None or transforms or pipeline in PIPELINE_CHOICES):
            raise ValueError(f'pipeline must be None, one of {PIPELINE_CHOICES} or a list of '
                             f'transform dicts, got {pipeline!r}')
        if criterion_options is not None and not isinstance(criterion_options, dict):
            raise ValueError(f'criterion_options must be a dict, got {criterion_options!r}')
        self.criterion_options = dict(criterion_options or {})
        _check_backend(backend, self.criterion_options.get('criterion', 'tsne_silhouette'))
        self.alpha, self.num_samples, self.backend, self.seed = alpha, num_samples, backend, seed
        self.batch_size, self.task, self.max_images = batch_size, task, max_images
        self.pipeline = list(pipeline) if isinstance(pipeline, (list, tuple)) else pipeline
        self.tokens_per_class_per_image = tokens_per_class_per_image
        self.plot_tsne = plot_tsne
        self.report_extra = dict(report_extra or {})

    def propose(self, runner, model) -> Proposal:
        units = prunable_units(model)
        names = [unit.name for unit in units]
        dataset = runner.train_dataloader.dataset
        runner.logger.info(f'SLS: capturing the features of {len(names)} units on up to '
                           f'{self.num_samples} samples of the training set ({len(dataset)} images)')
        with warnings_to_logger(runner.logger):  # e.g. the perplexity cap for small N
            analysis = analyze_layers(
                model, dataset, alpha=self.alpha, num_samples=self.num_samples,
                backend=self.backend, seed=self.seed, return_embeddings=self.plot_tsne,
                criterion_options=self.criterion_options,
                batch_size=self.batch_size or runner.cfg.train_dataloader.get('batch_size', 8),
                pipeline=analysis_pipeline(runner.cfg, self.pipeline), task=self.task,
                max_images=self.max_images,
                tokens_per_class_per_image=self.tokens_per_class_per_image)
        runner.logger.info('SLS scores (t-SNE silhouette per layer):\n' + format_score_table(
            analysis, [self.alpha], required=[unit.required for unit in units]))
        depth = analysis.selection.kept_depth
        applied = smallest_feasible_depth(model, depth)
        if applied != depth:
            runner.logger.warning(f'SLS: kept depth {depth} is too shallow for this model\'s '
                                  f'outputs; keeping {applied}, the smallest depth it supports')
        kept = [names[position] for position in depth_keep(model, applied)]
        paths = write_analysis(runner.work_dir, analysis, extra=dict(
            applied_depth=applied, kept_units=kept, **self.report_extra),
            required=[unit.required for unit in units])
        runner.logger.info(f'SLS: {len(analysis.labels)} samples from {analysis.num_images} '
                           f'images, capture {analysis.capture_seconds:.1f} s, scoring '
                           f'{analysis.scoring_seconds:.1f} s; report in '
                           f'{", ".join(osp.basename(path) for path in paths.values())}')
        add_to_visualizer(runner.visualizer, analysis, paths, runner.iter, applied)
        return Proposal(keep=applied, info=dict(
            source='analysis', kept_depth=depth, applied_depth=applied,
            scores=list(analysis.scores), threshold=analysis.selection.threshold))

    @property
    def source(self) -> str:
        return 'SLS'


def smallest_feasible_depth(model: nn.Module, depth: int) -> int:
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


# -- Argument checks shared by the selections and the hooks ---------------------------------------

def _check_positive_int(value, name: str) -> None:
    if not _is_int(value) or value < 1:
        raise ValueError(f'{name} must be an int >= 1, got {value!r}')


def _check_seed(seed) -> None:
    if not _is_int(seed):
        raise ValueError(f'seed must be an int (e.g. seed=0), got {seed!r} '
                         f'({type(seed).__name__})')


def _check_backend(backend, criterion: str) -> None:
    """Refuse an unknown criterion backend now, not after the feature capture."""
    known = sorted(name for scored, name in LAYER_SCORERS if scored == criterion)
    if not known:
        raise ValueError(f'unknown criterion {criterion!r} in criterion_options; the criteria are '
                         f'{sorted({scored for scored, _ in LAYER_SCORERS})}')
    # 'auto' picks one of the registered backends when the scores are computed.
    if backend != AUTO_BACKEND and backend not in known:
        raise ValueError(f'backend={backend!r} is not a backend of the {criterion!r} criterion; '
                         f'choose one of {known} or {AUTO_BACKEND!r}')

