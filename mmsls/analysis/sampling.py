"""Class-balanced, seeded sampling for the layer analysis."""
import random
from contextlib import contextmanager
from typing import Iterator

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
