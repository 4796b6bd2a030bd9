"""Per-layer features of a labelled sample of the training set, from one forward pass per batch.

Forward hooks on every prunable unit (:func:`mmsls.depth.prunable_units`) read each unit's output
through its family's feature view (``family.feature_view``, :mod:`mmsls.families`) while the backbone runs once over a
batch; only the chosen samples' vectors are kept, so memory stays O(N x L x C).
"""
import math
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.utils import ProgressBar
from torch import nn

from mmsls.depth import PrunableUnit, find_backbone, unwrap_model
from mmsls.families import FeatureView
from .labelling import pool_regions
from .sampling import (ClassQuota, check_dense_sample, class_quota, seeded_random_state,
                       select_balanced)
from .tasks import TASKS, BoxSamples, ImageSamples, Selection, TokenSamples, detect_task


@dataclass
class LayerFeatures:
    """Labelled feature vectors of every prunable unit.

    Attributes:
        features (list[np.ndarray]): One (N, C_l) float32 array per unit, in forward order.
        labels (np.ndarray): (N,) int64 class of each sample.
        images (np.ndarray): (N,) index into the dataset of each sample's image.
        unit_names (list[str]): The units' names (``layers.3``, ``stages.1.blocks.0``...).
        classes (tuple[str]): The dataset's class names (empty if its metainfo has none).
        task (str): ``'classification'``, ``'detection'`` or ``'segmentation'``.
        num_images (int): How many images ran through the model.
    """
    features: List[np.ndarray]
    labels: np.ndarray
    images: np.ndarray
    unit_names: List[str]
    classes: Tuple[str, ...]
    task: str
    num_images: int


def capture_layer_features(model: nn.Module,
                           dataset,
                           num_samples: int = 1000,
                           seed: int = 0,
                           batch_size: int = 8,
                           pipeline: Optional[Sequence[dict]] = None,
                           task: str = 'auto',
                           max_images: Optional[int] = None,
                           tokens_per_class_per_image: int = 2,
                           progress: bool = True) -> LayerFeatures:
    """Capture the features of every prunable unit for a class-balanced sample of ``dataset``.

    The model runs in eval mode without gradients (its train mode is restored after); batches go
    through the model's own data preprocessor, then through the backbone only. The global random
    generators are seeded inside (the pipeline's augmentations are reproducible) and restored
    after.

    Args:
        model (nn.Module): An OpenMMLab model (possibly DDP-wrapped) with a supported backbone.
        dataset: A dataset of the training split (``len``, ``get_data_info``, ``__getitem__``).
        num_samples (int): Sample size N: images (classification), boxes (detection) or tokens
            (segmentation). Classification takes every image if the set is smaller.
            Defaults to 1000.
        seed (int): Seed of the sample and of the pipeline's random transforms. Defaults to 0.
        batch_size (int): Images per forward pass. Defaults to 8.
        pipeline (Sequence[dict], optional): Transforms to load samples with, instead of the
            dataset's own (e.g. the test pipeline, for deterministic inputs). Defaults to None.
        task (str): ``'auto'`` (from the dataset's annotations) or one of ``'classification'``,
            ``'detection'``, ``'segmentation'``. Defaults to ``'auto'``.
        max_images (int, optional): Dense tasks: visit at most this many images (in a seeded random
            order) while filling every class's quota of ``ceil(N / num_classes)`` samples.
            Defaults to None: ``num_samples`` images.
        tokens_per_class_per_image (int): Segmentation: at most this many tokens of one class from
            one image. Defaults to 2.
        progress (bool): Show a progress bar over the images. Defaults to True.

    Returns:
        LayerFeatures: The per-unit features and labels.
    """
    for name, value in (('num_samples', num_samples), ('batch_size', batch_size),
                        ('tokens_per_class_per_image', tokens_per_class_per_image),
                        ('max_images', 1 if max_images is None else max_images)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f'{name} must be a positive int, got {value!r}')
    if len(dataset) == 0:
        raise ValueError('the dataset is empty: the layer analysis needs labelled training images')
    if task == 'auto':
        task = detect_task(dataset.get_data_info(0))
    elif task not in TASKS:
        raise ValueError(f"task must be 'auto' or one of {TASKS}, got {task!r}")
    module = unwrap_model(model)
    family, backbone = find_backbone(module)
    units = family.units(backbone)
    classes = tuple(dataset.metainfo.get('classes') or ())
    kind, order, quota = _plan(dataset, task, classes, num_samples, seed, max_images,
                               tokens_per_class_per_image)
    recorder = _UnitRecorder(units, family.feature_view(backbone), kind)
    load = _sample_loader(dataset, pipeline)
    num_images = 0
    with seeded_random_state(seed), _eval_mode(module), torch.no_grad(), recorder:
        for indices, batch in _equal_shape_batches(order, load, batch_size, progress):
            data = module.data_preprocessor(pseudo_collate(batch), training=False)
            recorder.run(backbone, data['inputs'], data['data_samples'], indices)
            num_images += len(batch)
            if quota is not None and quota.full:
                break
    if progress:
        sys.stdout.write('\n')
    if num_images == 0:
        raise ValueError(f'the pipeline dropped all {len(order)} images visited (it returned None '
                         'for each): check the pipeline of the analysis')
    features, labels, images = recorder.collected()
    if len(labels) == 0:
        raise ValueError(f'no labelled {task} samples in the {num_images} images visited: check '
                         'that the pipeline loads the annotations and that they name the dataset '
                         'classes')
    if quota is not None:
        check_dense_sample(labels, num_samples, num_images, task)
    return LayerFeatures(features, labels, images, [unit.name for unit in units], classes, task,
                         num_images)


def _plan(dataset, task: str, classes: Tuple[str, ...], num_samples: int, seed: int,
          max_images: Optional[int], tokens_per_class_per_image: int):
    """The sample kind, the images to visit in order, and the quota that ends the visit early."""
    rng = np.random.default_rng(seed)
    if task == 'classification':
        labels = np.array([_image_label(dataset, index) for index in range(len(dataset))])
        return ImageSamples(), select_balanced(labels, num_samples, seed), None
    if not classes:
        raise ValueError(f'the {task} dataset has no metainfo["classes"]: the analysis needs the '
                         'class count to balance its sample; set metainfo=dict(classes=...) in its '
                         'config')
    quota = ClassQuota(len(classes), class_quota(num_samples, len(classes), task))
    if task == 'detection':
        kind = BoxSamples(quota, rng)
    else:
        kind = TokenSamples(quota, rng, len(classes), tokens_per_class_per_image)
    limit = min(num_samples if max_images is None else max_images, len(dataset))
    return kind, rng.permutation(len(dataset))[:limit], quota


def _image_label(dataset, index: int) -> int:
    label = np.asarray(dataset.get_data_info(index).get('gt_label', -1))
    if label.size != 1 or label < 0:
        raise ValueError(f'image {index} of the dataset has gt_label {label.tolist()}: the SLS '
                         'analysis of classification needs one class per image')
    return int(label)


def _sample_loader(dataset, pipeline: Optional[Sequence[dict]]) -> Callable[[int], Optional[dict]]:
    """``index -> packed sample`` through ``pipeline`` if given, else the dataset's own."""
    if pipeline is None:
        return dataset.__getitem__
    transform = Compose(list(pipeline))
    return lambda index: transform(dataset.get_data_info(index))


def _equal_shape_batches(order: Sequence[int], load: Callable[[int], Optional[dict]],
                         batch_size: int, progress: bool) -> Iterator[Tuple[List[int], List[dict]]]:
    """Dataset indices and samples of batches of up to ``batch_size`` consecutive samples whose
    inputs have the same shape (some data preprocessors, e.g. mmseg's in test mode, only stack
    inputs of one size)."""
    bar = ProgressBar(len(order)) if progress else None
    indices, batch = [], []
    for index in order:
        sample = load(int(index))
        if bar is not None:
            bar.update()
        if sample is None:  # dropped by the pipeline
            continue
        full = len(batch) == batch_size
        if batch and (full or sample['inputs'].shape != batch[0]['inputs'].shape):
            yield indices, batch
            indices, batch = [], []
        indices.append(int(index))
        batch.append(sample)
    if batch:
        yield indices, batch


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()  # a statement: mmpretrain backbones' train() returns None
    try:
        yield
    finally:
        if was_training:
            model.train()


class _Batch:
    """What the unit hooks need and fill during one forward pass."""

    def __init__(self, data_samples: Sequence, input_hw: Tuple[int, int]):
        self.data_samples = data_samples
        self.input_hw = input_hw
        self.selection: Optional[Selection] = None
        self.features: Dict[int, torch.Tensor] = {}


class _UnitRecorder:
    """Forward hooks on every unit that keep the chosen samples' vectors of each unit.

    Dense samples are chosen on the first unit's token grid, when the first hook runs.
    """

    def __init__(self, units: List[PrunableUnit], view: FeatureView, kind):
        self.units = units
        self.view = view
        self.kind = kind
        self._handles = []
        self._batch: Optional[_Batch] = None
        self._features: List[List[torch.Tensor]] = [[] for _ in units]
        self._labels: List[torch.Tensor] = []
        self._images: List[torch.Tensor] = []

    def __enter__(self) -> '_UnitRecorder':
        self._handles = self.view.register_context_hooks()
        for position, unit in enumerate(self.units):
            self._handles.append(unit.module.register_forward_hook(
                partial(self._on_unit, position, unit), with_kwargs=True))
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def run(self, backbone: nn.Module, inputs: torch.Tensor, data_samples: Sequence,
            image_indices: Sequence[int]) -> None:
        """Run ``backbone`` once on a batch and keep its samples' features."""
        self._batch = batch = _Batch(data_samples, tuple(inputs.shape[-2:]))
        try:
            backbone(inputs)
        finally:
            self._batch = None
        missing = [unit.name for position, unit in enumerate(self.units)
                   if position not in batch.features]
        if missing:
            raise RuntimeError(f'units {missing} did not run in the backbone forward pass, so '
                               'their features cannot be captured')
        for position, features in batch.features.items():
            self._features[position].append(features)
        self._labels.append(batch.selection.labels)
        self._images.append(torch.as_tensor(image_indices)[batch.selection.batch_index])

    def collected(self) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
        """The kept features of every unit, their labels and images, as numpy arrays."""
        # One copy to the host per unit, after the last batch (see _on_unit).
        features = [torch.cat(chunks).cpu().numpy() for chunks in self._features]
        return (features, torch.cat(self._labels).numpy().astype(np.int64),
                torch.cat(self._images).numpy().astype(np.int64))

    def _on_unit(self, position: int, unit: PrunableUnit, module: nn.Module, args: tuple,
                 kwargs: dict, output: torch.Tensor) -> None:
        batch = self._batch
        if batch is None:
            return
        if self.kind.dense:
            grid = self.view.token_grid(unit, args, kwargs, output)
            if batch.selection is None:
                batch.selection = self.kind.select(batch.data_samples, batch.input_hw,
                                                   tuple(grid.shape[-2:]))
            selection = batch.selection
            features = pool_regions(grid, selection.batch_index, selection.boxes, batch.input_hw)
        else:
            if batch.selection is None:
                batch.selection = self.kind.select(batch.data_samples, batch.input_hw, None)
            features = self.view.image_vector(unit, args, kwargs, output)
            features = features[batch.selection.batch_index.to(features.device)]
        # Kept on the model's device: a copy to the host here would wait for this unit's output
        # in the middle of the forward pass, once per unit and batch.
        batch.features[position] = features.float()
