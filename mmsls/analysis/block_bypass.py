"""UPDP's subnet search on a real model: the cost of bypassing blocks on a held-out training sample.

The greedy choice itself is the pure :func:`mmsls.criteria.block_bypass.greedy_bypass_selection`;
this module measures what it needs: the model's loss (or top-1 error) on fixed batches with a set of
blocks replaced, and each block's FLOPs. A block is replaced by the identity
(:func:`mmsls.depth.fading.bypassed`, for removal) or by its linear form (UPDP's merge:
:func:`mmsls.depth.linearized` at blend 1, its BatchNorm stand-ins calibrated on the same batches).
"""
import copy
from contextlib import contextmanager
from typing import Dict, FrozenSet, List, Optional, Sequence

import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.model import is_model_wrapper
from torch import nn

from mmsls.criteria.block_bypass import BypassSelection, greedy_bypass_selection
from mmsls.depth import (LinearizedBlocks, calibrate_linearized, find_backbone, linearized,
                         merge_blocks, prunable_units)
from mmsls.depth.fading import bypassed
from .sampling import seeded_random_state

BYPASS_METRICS = ('loss', 'error')
#: What a chosen block becomes during the search: removed (the identity) or merged (its linear form).
BYPASS_REPLACEMENTS = ('identity', 'linear')


class BypassEvaluator:
    """The cost of a model with a set of blocks bypassed, on fixed batches (lower is better).

    Batches go through the model's data preprocessor once, in evaluation mode (no batch
    augmentation). Each call runs the model in eval mode without gradients and restores its mode.

    Args:
        model (nn.Module): An OpenMMLab ``BaseModel`` (classifier, detector, segmentor), or a wrapped
            one.
        batches (Sequence[dict]): Collated data batches, as a dataloader yields them.
        metric (str): ``'loss'``: the model's total loss, for any task; ``'error'``: the top-1 error of
            a classifier (data samples with ``gt_label`` and ``pred_label``). Defaults to ``'loss'``.
        replace (str): ``'identity'`` (the blocks are removed) or ``'linear'`` (each block runs its
            linear form, UPDP's merge). Defaults to ``'identity'``.
        linear_blocks (LinearizedBlocks, optional): With ``replace='linear'``, units linearised
            already (e.g. trained in a supernet phase): a cost sets their blends (1 for the set, 0
            for the others) instead of linearising afresh. Other units are refused.
    """

    def __init__(self, model: nn.Module, batches: Sequence[dict], metric: str = 'loss',
                 replace: str = 'identity', linear_blocks: Optional[LinearizedBlocks] = None):
        if metric not in BYPASS_METRICS:
            raise ValueError(f'metric must be one of {BYPASS_METRICS}, got {metric!r}')
        if replace not in BYPASS_REPLACEMENTS:
            raise ValueError(f'replace must be one of {BYPASS_REPLACEMENTS}, got {replace!r}')
        if linear_blocks is not None and replace != 'linear':
            raise ValueError("linear_blocks go with replace='linear'")
        self.replace, self.linear_blocks = replace, linear_blocks
        if not batches:
            raise ValueError('batches is empty: give at least one batch of training data')
        self.model = model.module if is_model_wrapper(model) else model
        self.metric = metric
        with torch.no_grad():
            self._data = [self.model.data_preprocessor(batch, False) for batch in batches]
        self.evaluations = 0

    def __call__(self, bypassed_units: FrozenSet[str]) -> float:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), self._replaced(bypassed_units):
                values = [self._batch_value(data) for data in self._data]
        finally:
            self.model.train(was_training)
        self.evaluations += 1
        sizes = [len(data['data_samples']) for data in self._data]
        return float(np.average(values, weights=sizes))

    @contextmanager
    def _replaced(self, units: FrozenSet[str]):
        if self.linear_blocks is not None:
            unknown = sorted(set(units) - set(self.linear_blocks.names))
            if unknown:
                raise ValueError(f'{unknown} are not among the linearised units '
                                 f'{self.linear_blocks.names}')
            previous = self.linear_blocks.blends
            self.linear_blocks.set_blend(0.0)
            self.linear_blocks.set_blend(1.0, units)
            try:
                yield
            finally:
                for name, blend in previous.items():
                    self.linear_blocks.set_blend(blend, [name])
        elif not units:
            yield
        elif self.replace == 'identity':
            with bypassed(self.model, units):
                yield
        else:
            with linearized(self.model, sorted(units), 1.0) as blocks:
                calibrate_linearized(self.model, blocks, [data['inputs'] for data in self._data])
                yield

    def _batch_value(self, data: dict) -> float:
        if self.metric == 'loss':
            loss, _ = self.model.parse_losses(self.model(**data, mode='loss'))
            return loss.item()
        samples = self.model(**data, mode='predict')
        if not all(hasattr(sample, 'gt_label') and hasattr(sample, 'pred_label')
                   for sample in samples):
            raise ValueError("metric='error' needs a classifier whose predictions carry gt_label "
                             "and pred_label; use metric='loss' for other tasks")
        wrong = [int(sample.pred_label[0] != sample.gt_label[0]) for sample in samples]
        return float(np.mean(wrong))


def unit_flops(model: nn.Module, inputs: torch.Tensor) -> Dict[str, float]:
    """FLOPs of every prunable unit, and of the whole backbone under ``'total'``.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        inputs (torch.Tensor): A preprocessed input batch for the backbone, ``(B, 3, H, W)``.

    Returns:
        dict[str, float]: Unit name -> FLOPs for the batch, plus ``'total'``.
    """
    _, backbone = find_backbone(model)
    was_training = backbone.training
    backbone.eval()
    try:
        analyzer = FlopAnalyzer(backbone, (inputs, ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        by_module = analyzer.by_module()
    finally:
        backbone.train(was_training)
    flops = {unit.name: float(by_module[unit.name]) for unit in prunable_units(model)}
    flops['total'] = float(analyzer.total())
    return flops


def merge_savings(model: nn.Module, inputs: torch.Tensor, names: Sequence[str]) -> Dict[str, float]:
    """The FLOPs each unit's merge saves (the block's minus its merged block's) on ``inputs``.

    Measured on a copy of the backbone with every named unit merged (the model is unchanged).
    """
    _, backbone = find_backbone(model)
    merged = copy.deepcopy(backbone)
    merge_blocks(merged, list(names))
    before, after = unit_flops(backbone, inputs), unit_flops(merged, inputs)
    return {name: before[name] - after[name] for name in names}


def sample_training_batches(dataloader, num_samples: int, seed: int = 0) -> List[dict]:
    """A seeded random sample of a training dataloader's dataset, collated into its batch size.

    Reads the dataset directly (not through the dataloader's iterator, which training uses), so the
    training loop's data order and random stream do not change.

    Args:
        dataloader (DataLoader): The training dataloader.
        num_samples (int): How many samples; the whole dataset if it is smaller.
        seed (int): Seed of the choice. Defaults to 0.

    Returns:
        list[dict]: Collated batches.
    """
    dataset = dataloader.dataset
    count = min(num_samples, len(dataset))
    indices = np.random.default_rng(seed).permutation(len(dataset))[:count]
    # mmdet's aspect-ratio batching leaves DataLoader.batch_size None; its batch sampler has it.
    batch_size = dataloader.batch_size or getattr(dataloader.batch_sampler, 'batch_size', count)
    # The pipeline's random augmentations draw from the global generators: seed them here and leave
    # the training run's random stream as it was.
    with seeded_random_state(seed):
        items = [dataset[int(index)] for index in indices]
    return [dataloader.collate_fn(items[start:start + batch_size])
            for start in range(0, count, batch_size)]


def select_blocks_by_bypass(model: nn.Module,
                            batches: Sequence[dict],
                            num_remove: Optional[int] = None,
                            flops_ratio: Optional[float] = None,
                            metric: str = 'loss',
                            candidates: Optional[Sequence[str]] = None,
                            replace: str = 'identity',
                            linear_blocks: Optional[LinearizedBlocks] = None) -> BypassSelection:
    """UPDP's subnet search: greedily bypass the cheapest blocks of ``model`` on ``batches``.

    Args:
        model (nn.Module): An OpenMMLab model, or a wrapped one.
        batches (Sequence[dict]): Collated batches of held-out training data.
        num_remove (int, optional): Remove this many blocks.
        flops_ratio (float, optional): Or remove blocks until they make up this share of the
            backbone's FLOPs, in (0, 1).
        metric (str): ``'loss'`` or ``'error'``, see :class:`BypassEvaluator`. Defaults to ``'loss'``.
        candidates (Sequence[str], optional): Unit names that may be removed. Defaults to every unit
            that is not required (``replace='identity'``), or every unit with a merged form
            (``replace='linear'``).
        replace (str): ``'identity'`` (removal) or ``'linear'`` (merge), see
            :class:`BypassEvaluator`. With ``'linear'``, blocks whose merge saves no FLOPs (e.g.
            MobileNetV2's first block, whose merged dense conv costs 5x the block) are no
            candidates, and with ``flops_ratio`` a block counts with the FLOPs its merge saves
            (block minus merged block). Defaults to ``'identity'``.
        linear_blocks (LinearizedBlocks, optional): See :class:`BypassEvaluator`.

    Returns:
        BypassSelection: The chosen blocks, in the order chosen, with the costs seen.
    """
    if candidates is None and replace == 'linear':
        family, backbone = find_backbone(model)
        candidates = [unit.name for unit in prunable_units(model)
                      if family.merge_blocker(unit.module) is None]
    elif candidates is None:
        candidates = [unit.name for unit in prunable_units(model) if not unit.required]
    evaluator = BypassEvaluator(model, batches, metric, replace, linear_blocks)
    with torch.no_grad():
        inputs = evaluator.model.data_preprocessor(batches[0], False)['inputs'][:1]
    if replace == 'linear':
        saved = merge_savings(model, inputs, candidates)
        candidates = [name for name in candidates if saved[name] > 0]
        if not candidates:
            raise ValueError(f'no candidate block is cheaper merged than as it is (FLOPs saved: '
                             f'{saved}); remove blocks instead, or merge chosen ones with blocks=')
    if flops_ratio is None:
        return greedy_bypass_selection(evaluator, candidates, num_remove=num_remove)
    if not 0 < flops_ratio < 1:
        raise ValueError(f'flops_ratio is the share of the backbone FLOPs to remove, in (0, 1), got '
                         f'{flops_ratio!r}')
    flops = unit_flops(model, inputs)
    if replace == 'linear':
        flops.update(saved)
    return greedy_bypass_selection(evaluator, candidates, num_remove=num_remove, flops=flops,
                                   flops_to_remove=flops_ratio * flops['total'])
