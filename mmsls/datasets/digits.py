"""The handwritten digits bundled with scikit-learn, as an mmpretrain dataset (no download needed).

``sklearn.datasets.load_digits`` ships 1797 real 8x8 grey-level images of the digits 0-9 inside the
scikit-learn package. :class:`DigitsDataset` serves them to mmpretrain pipelines like its own in-memory
datasets (MNIST, CIFAR): each item holds the image array (``img``, 8x8x3 uint8) and its ``gt_label``,
so a pipeline starts with transforms such as ``Resize`` rather than ``LoadImageFromFile``.

One seeded, stratified train/test split serves every task, and a task decides what is predicted of
the same images: ``'digit'`` (which digit, 10 classes) or ``'parity'`` (even or odd, 2 classes).
"""
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmsls.registry import DATASETS

#: The bundled images hold integers 0..16 (the counts of set pixels in 4x4 blocks of a 32x32 bitmap).
MAX_INTENSITY = 16


class DigitsTask(NamedTuple):
    """What a task predicts: its class names, and the label of each digit (``label_of(digits)``)."""
    classes: Tuple[str, ...]
    label_of: Callable[[np.ndarray], np.ndarray]


DIGITS_TASKS: Dict[str, DigitsTask] = {
    'digit': DigitsTask(tuple(str(digit) for digit in range(10)), lambda digits: digits),
    'parity': DigitsTask(('even', 'odd'), lambda digits: digits % 2),
}


def split_indices(digits: np.ndarray, test_fraction: float, seed: int) -> Dict[str, np.ndarray]:
    """A stratified train/test split: per digit, a seeded ``test_fraction`` of its images is test.

    Args:
        digits (np.ndarray): (N,) the digit of every image.
        test_fraction (float): Fraction of each digit's images held out, in (0, 1).
        seed (int): Seed of the split.

    Returns:
        dict: Sorted indices for ``'train'`` and ``'test'``.
    """
    rng = np.random.default_rng(seed)
    test = []
    for digit in np.unique(digits):
        members = rng.permutation(np.flatnonzero(digits == digit))
        test.extend(members[:int(round(test_fraction * len(members)))])
    is_test = np.zeros(len(digits), dtype=bool)
    is_test[test] = True
    return dict(train=np.flatnonzero(~is_test), test=np.flatnonzero(is_test))


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """scikit-learn's bundled handwritten digits (1797 real 8x8 images) for mmpretrain.

    In a config (any scope)::

        dataset=dict(type='mmsls.DigitsDataset', split='train', task='parity',
                     pipeline=[dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')])

    Images are 8x8x3 uint8 (the grey level, 0..255, in all three channels). The split is stratified
    by digit and depends only on ``test_fraction`` and ``seed``, so every task shares the same
    train and test images (a model pre-trained on the train split of one task never saw the test
    images of another).

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        task (str): What the labels are, one of :data:`DIGITS_TASKS` (``'digit'``, ``'parity'``).
            Defaults to ``'digit'``.
        test_fraction (float): Fraction of each digit's images in the test split. Defaults to 0.25.
        seed (int): Seed of the split. Defaults to 0.
        metainfo (dict, optional): Extra meta information; its ``classes``, if given, must be the
            task's.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset`` (``pipeline``, ``test_mode``,
            ``indices``...), except the file-related ones: the data comes from scikit-learn.
    """

    def __init__(self,
                 split: str = 'train',
                 task: str = 'digit',
                 test_fraction: float = 0.25,
                 seed: int = 0,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"DigitsDataset split must be 'train' or 'test', got {split!r}")
        if task not in DIGITS_TASKS:
            raise ValueError(f'DigitsDataset has no task {task!r}; choose one of '
                             f'{sorted(DIGITS_TASKS)}')
        if not 0 < test_fraction < 1:
            raise ValueError(f'test_fraction must be in (0, 1), got {test_fraction}')
        for name in ('ann_file', 'data_root', 'data_prefix'):
            if kwargs.get(name):
                raise ValueError(f'DigitsDataset reads scikit-learn\'s bundled digits and takes no '
                                 f'{name}; remove it from the dataset config')
            kwargs.pop(name, None)
        classes = DIGITS_TASKS[task].classes
        metainfo = dict(metainfo or {})
        if tuple(metainfo.setdefault('classes', classes)) != classes:
            raise ValueError(f'the {task!r} task has the classes {classes}, but metainfo names '
                             f'{tuple(metainfo["classes"])}; drop classes from metainfo')
        self.split, self.task, self.test_fraction, self.seed = split, task, test_fraction, seed
        super().__init__(ann_file='', metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        # Imported here: importing sklearn.datasets takes seconds, and `import mmsls` imports this.
        from sklearn.datasets import load_digits
        bunch = load_digits()
        grey = np.round(bunch.images * (255 / MAX_INTENSITY)).astype(np.uint8)
        images = np.repeat(grey[..., None], 3, axis=-1)
        digits = bunch.target.astype(np.int64)
        labels = DIGITS_TASKS[self.task].label_of(digits)
        indices = split_indices(digits, self.test_fraction, self.seed)[self.split]
        return [dict(img=images[i], gt_label=int(labels[i]),
                     digit=int(digits[i])) for i in indices]

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split} (test fraction {self.test_fraction}, seed {self.seed})',
                f'Task: \t{self.task}']
