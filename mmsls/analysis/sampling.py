"""Class-balanced, seeded sampling for the layer analysis, and the pipeline the sample loads with."""
import copy
import math
import random
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np
import torch


def balanced_counts(class_sizes: np.ndarray, num_samples: int) -> np.ndarray:
    """How many samples to draw from each class for a class-balanced sample of ``num_samples``.

    Every class gets the same share; a class smaller than its share gives all it has, and what it
    leaves is shared among the others ("water filling"). Shares that do not divide evenly go to the
    largest classes first (ties: the lower class id).

    Args:
        class_sizes (np.ndarray): Available samples per class.
        num_samples (int): The sample size; all samples are taken if there are fewer.

    Returns:
        np.ndarray: Samples to draw per class; they sum to ``min(num_samples, class_sizes.sum())``.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    remaining = min(int(num_samples), int(sizes.sum()))
    counts = np.zeros_like(sizes)
    order = np.argsort(sizes, kind='stable')
    # From the smallest class up: a class within the fair share of what is left gives all it has;
    # once one is larger, so are the rest, and each of them gets the share.
    for visited, cls in enumerate(order):
        share = remaining // (len(order) - visited)
        if sizes[cls] > share:
            rest = order[visited:]
            counts[rest] = share
            remaining -= share * len(rest)
            # Fewer than len(rest) left over: one more each, largest spare capacity first.
            spare = sizes - counts
            extra = sorted(rest, key=lambda index: (-spare[index], index))[:remaining]
            counts[extra] += 1
            break
        counts[cls] = sizes[cls]
        remaining -= sizes[cls]
    return counts


def select_balanced(labels: np.ndarray, num_samples: int, seed: int = 0) -> np.ndarray:
    """Positions of a class-balanced random sample of ``labels``.

    Args:
        labels (np.ndarray): (M,) integer class of each candidate.
        num_samples (int): The sample size; every candidate is taken if there are fewer.
        seed (int): Seed of the draw. Defaults to 0.

    Returns:
        np.ndarray: Sorted positions into ``labels``.
    """
    labels = np.asarray(labels)
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = balanced_counts(np.bincount(inverse, minlength=len(classes)), num_samples)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(inverse == cls), size=count, replace=False)
              for cls, count in enumerate(counts)]
    return np.sort(np.concatenate(chosen))


class ClassQuota:
    """The same quota of samples for every class, filled as candidates stream in.

    Used where labels are only known once images have been run (tokens, boxes): candidates come in a
    random order, so taking the first ``per_class`` of each class is a uniform sample of that class.

    Args:
        num_classes (int): Number of classes.
        per_class (int): The quota of each class.
    """

    def __init__(self, num_classes: int, per_class: int):
        self.taken = np.zeros(num_classes, dtype=np.int64)
        self.per_class = per_class

    def take(self, label: int) -> bool:
        """Count one sample of class ``label`` if its quota has room; return whether it had."""
        if self.taken[label] >= self.per_class:
            return False
        self.taken[label] += 1
        return True

    @property
    def full(self) -> bool:
        """Whether every class has reached its quota."""
        return bool(np.all(self.taken >= self.per_class))


def class_quota(num_samples: int, num_classes: int, task: str) -> int:
    """Samples wanted per class of a dense task, ``ceil(N / classes)``; at least 2, which the
    silhouette needs (a class of one sample scores 0 and tells nothing)."""
    quota = math.ceil(num_samples / num_classes)
    if quota < 2:
        raise ValueError(f'num_samples={num_samples} gives each of the {num_classes} {task} classes '
                         f'a quota of {quota} sample, and the silhouette needs at least 2 per '
                         f'class: use num_samples >= {2 * num_classes} (2 x the classes)')
    return quota


def check_dense_sample(labels: np.ndarray, num_samples: int, num_images: int, task: str) -> None:
    """Refuse a dense-task sample with fewer than 2 classes of 2 or more samples, naming the N
    (and the number of images to visit) that would give one."""
    counts = np.bincount(labels)
    usable = int(np.sum(counts >= 2))
    if usable >= 2:
        return
    present = int(np.sum(counts > 0))
    raise ValueError(f'the {task} sample has {len(labels)} samples of {present} classes from '
                     f'{num_images} images, but only {usable} class(es) with 2 or more samples; the '
                     'silhouette needs at least 2 such classes. Visit more images: raise '
                     f'max_images (and num_samples, now {num_samples}) to at least '
                     f'{max(2 * num_images, 2 * num_samples)}')


@contextmanager
def seeded_random_state(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's global generators inside, restore them after.

    Data pipelines draw their augmentations from the global generators; seeding them makes the
    analysis reproducible, and restoring them leaves the training run's random stream untouched.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    # torch.manual_seed also seeds the GPUs; restore the one this process computes on (a DDP rank
    # never draws from the others, and touching them would open a context on each).
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


#: What ``pipeline`` may name instead of a list of transforms (SLSHook, tools/analyze_layers.py).
PIPELINE_CHOICES = ('test', 'train')


def analysis_pipeline(cfg, choice: Union[None, str, Sequence[dict]] = None) -> Optional[List[dict]]:
    """The transforms the analysis loads its training-set sample with.

    The default is unaugmented, as the SLS authors' code (evaluation transforms on the training
    images): the config's ``test_pipeline``, else the val (or test) dataloader's pipeline. The
    annotations are loaded right after the image, so that every geometric transform (resize,
    crop) applies to them too: mmdet and mmseg test pipelines load them after resizing, at the
    original size, for their metrics. A test pipeline without an annotation loader gets the
    training pipeline's (boxes and segmentation maps label the dense samples).

    Args:
        cfg (Config | dict): The run's config.
        choice (None | str | Sequence[dict]): None or ``'test'`` for the default above, ``'train'``
            for the training dataset's own pipeline (augmentations seeded), or the transforms.

    Returns:
        list[dict] | None: The transforms, or None for the training dataset's own pipeline. A new
        list: the config's lists are not changed.
    """
    if choice == 'train':
        return None
    if choice is not None and choice != 'test':
        if isinstance(choice, str) or not isinstance(choice, Sequence):
            raise ValueError(f'pipeline must be None, one of {PIPELINE_CHOICES} or a list of '
                             f'transforms, got {choice!r}')
        return copy.deepcopy(list(choice))
    pipeline = cfg.get('test_pipeline', None)
    for loader in ('val_dataloader', 'test_dataloader'):
        if pipeline is None:
            pipeline = _dataset_pipeline(cfg.get(loader, None))
    if pipeline is None:
        raise ValueError('the analysis loads its sample with the config\'s test_pipeline (or the '
                         'val/test dataloader\'s), but the config has none: define test_pipeline, '
                         "or pass pipeline='train' (the training pipeline) or a list of transforms")
    pipeline = copy.deepcopy(list(pipeline))
    annotations = [step for step in pipeline if _is_annotation_loader(step)]
    if not annotations:
        train = _dataset_pipeline(cfg.get('train_dataloader', None)) or []
        annotations = [copy.deepcopy(step) for step in train if _is_annotation_loader(step)]
    rest = [step for step in pipeline if not _is_annotation_loader(step)]
    loads_image = [index for index, step in enumerate(rest) if 'LoadImage' in _type_name(step)]
    at = loads_image[0] + 1 if loads_image else 0
    return rest[:at] + annotations[:1] + rest[at:]


def _dataset_pipeline(dataloader) -> Optional[list]:
    """The pipeline of a dataloader config's dataset, looking through dataset wrappers."""
    dataset = (dataloader or {}).get('dataset', None)
    while isinstance(dataset, dict):
        if dataset.get('pipeline') is not None:
            return dataset['pipeline']
        dataset = dataset.get('dataset', None)
    return None


def _type_name(step) -> str:
    kind = step.get('type', '') if isinstance(step, dict) else ''
    return getattr(kind, '__name__', str(kind))  # a registered name or a class (lazy configs)


def _is_annotation_loader(step) -> bool:
    return _type_name(step).endswith('LoadAnnotations')
