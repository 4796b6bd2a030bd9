"""The handwritten digits bundled with scikit-learn, as an mmpretrain dataset (no download needed).

``sklearn.datasets.load_digits`` ships 1797 real 8x8 grey-level images of the digits 0-9 inside the
scikit-learn package. :class:`DigitsDataset` serves them to mmpretrain pipelines like its own
in-memory datasets (MNIST, CIFAR): each item holds the image array (``img``, uint8), its
``gt_label``, its ``digit`` and its index in ``load_digits()`` (``digits_index``), so a pipeline
starts with transforms such as ``Resize`` rather than ``LoadImageFromFile``.

One seeded, stratified train/test split serves every task; a task decides what is predicted:

- ``'digit'``: which digit it is (10 classes), on the 8x8 images;
- ``'parity'``: whether the digit is even or odd (2 classes), on the 8x8 images;
- ``'quadrant'``: where the digit is (4 classes): each digit is drawn in one quadrant, chosen at
  random (seeded), of a black 16x16 canvas. A geometric task, like the structured tasks of VTAB.
"""
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset

from mmsls.registry import DATASETS

#: The bundled images hold integers 0..16: counts of set pixels in 4x4 blocks of a 32x32 bitmap.
MAX_INTENSITY = 16


class DigitsTask(NamedTuple):
    """What a task predicts of the digit images.

    ``make(images, digits, rng) -> (images, labels)`` gets all (N, 8, 8, 3) images, their digits
    and a seeded generator, and returns the task's images (possibly redrawn) and labels.
    """
    classes: Tuple[str, ...]
    make: Callable[[np.ndarray, np.ndarray, np.random.Generator], Tuple[np.ndarray, np.ndarray]]


def _digit_identity(images, digits, rng):
    return images, digits


def _parity(images, digits, rng):
    return images, digits % 2


def _quadrant(images, digits, rng):
    """Draw each digit in a random quadrant of a black canvas twice its size; label the quadrant."""
    quadrants = rng.integers(0, 4, size=len(images))
    size = images.shape[1]
    canvases = np.zeros((len(images), 2 * size, 2 * size, images.shape[3]), images.dtype)
    for canvas, image, quadrant in zip(canvases, images, quadrants):
        row, col = divmod(int(quadrant), 2)
        canvas[row * size:(row + 1) * size, col * size:(col + 1) * size] = image
    return canvases, quadrants


DIGITS_TASKS: Dict[str, DigitsTask] = {
    'digit': DigitsTask(tuple(str(digit) for digit in range(10)), _digit_identity),
    'parity': DigitsTask(('even', 'odd'), _parity),
    'quadrant': DigitsTask(('top left', 'top right', 'bottom left', 'bottom right'), _quadrant),
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

        dataset=dict(type='mmsls.DigitsDataset', split='train', task='quadrant',
                     pipeline=[dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')])

    Images are uint8 with the grey level (0..255) in all three channels: 8x8x3, or 16x16x3 for
    ``'quadrant'``. The split is stratified by digit and depends only on ``test_fraction`` and
    ``seed``, so every task splits the same digits alike: a model pre-trained on the train split of
    one task never saw the test digits of another.

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        task (str): What is predicted, one of :data:`DIGITS_TASKS` (``'digit'``, ``'parity'``,
            ``'quadrant'``).
            Defaults to ``'digit'``.
        test_fraction (float): Fraction of each digit's images in the test split. Defaults to 0.25.
        seed (int): Seed of the split and of the task's randomness. Defaults to 0.
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
        # The task draws from a child stream of the seed, independent of the split's, for all images
        # before splitting: its randomness does not depend on the split.
        task_rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(1)[0])
        images, labels = DIGITS_TASKS[self.task].make(images, digits, task_rng)
        indices = split_indices(digits, self.test_fraction, self.seed)[self.split]
        return [dict(img=images[i], gt_label=int(labels[i]), digit=int(digits[i]),
                     digits_index=int(i)) for i in indices]

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split} (test fraction {self.test_fraction}, seed {self.seed})',
                f'Task: \t{self.task}']
