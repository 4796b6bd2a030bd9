"""UPDP's subnet search on a real model: the cost of bypassing blocks on a held-out training sample.

The greedy choice itself is the pure :func:`mmsls.criteria.block_bypass.greedy_bypass_selection`;
this module measures what it needs: the model's loss (or top-1 error) on fixed batches with a set of
blocks turned into the identity (:func:`mmsls.depth.fading.bypassed`), and each block's FLOPs.
"""
from contextlib import nullcontext
from typing import Dict, FrozenSet, List, Optional, Sequence

import numpy as np
import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.model import is_model_wrapper
from torch import nn

from mmsls.criteria.block_bypass import BypassSelection, greedy_bypass_selection
from mmsls.depth import find_backbone, prunable_units
from mmsls.depth.fading import bypassed
from .sampling import seeded_random_state

BYPASS_METRICS = ('loss', 'error')


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
    """

    def __init__(self, model: nn.Module, batches: Sequence[dict], metric: str = 'loss'):
        if metric not in BYPASS_METRICS:
            raise ValueError(f'metric must be one of {BYPASS_METRICS}, got {metric!r}')
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
            context = bypassed(self.model, bypassed_units) if bypassed_units else nullcontext()
            with torch.no_grad(), context:
                values = [self._batch_value(data) for data in self._data]
        finally:
            self.model.train(was_training)
        self.evaluations += 1
        sizes = [len(data['data_samples']) for data in self._data]
        return float(np.average(values, weights=sizes))

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
                            candidates: Optional[Sequence[str]] = None) -> BypassSelection:
    """UPDP's subnet search: greedily bypass the cheapest blocks of ``model`` on ``batches``.

    Args:
        model (nn.Module): An OpenMMLab model, or a wrapped one.
        batches (Sequence[dict]): Collated batches of held-out training data.
        num_remove (int, optional): Remove this many blocks.
        flops_ratio (float, optional): Or remove blocks until they make up this share of the
            backbone's FLOPs, in (0, 1).
        metric (str): ``'loss'`` or ``'error'``, see :class:`BypassEvaluator`. Defaults to ``'loss'``.
        candidates (Sequence[str], optional): Unit names that may be removed. Defaults to every unit
            that is not required.

    Returns:
        BypassSelection: The chosen blocks, in the order chosen, with the costs seen.
    """
    if candidates is None:
        candidates = [unit.name for unit in prunable_units(model) if not unit.required]
    evaluator = BypassEvaluator(model, batches, metric)
    if flops_ratio is None:
        return greedy_bypass_selection(evaluator, candidates, num_remove=num_remove)
    if not 0 < flops_ratio < 1:
        raise ValueError(f'flops_ratio is the share of the backbone FLOPs to remove, in (0, 1), got '
                         f'{flops_ratio!r}')
    with torch.no_grad():
        inputs = evaluator.model.data_preprocessor(batches[0], False)['inputs'][:1]
    flops = unit_flops(model, inputs)
    return greedy_bypass_selection(evaluator, candidates, num_remove=num_remove, flops=flops,
                                   flops_to_remove=flops_ratio * flops['total'])
