"""A tiny VTAB-1k task in the PETL community's layout, for tests and examples."""
from pathlib import Path
from typing import Dict, Optional

from .tiny import MAX_CLASSES, write_tiny_classification
from .vtab import VTAB1K_TASKS


def _relative_lines(list_file: Path, image_folder: str):
    """The lines of a tiny-classification list file with paths made relative to the task folder."""
    return [f'{image_folder}/{line}' for line in list_file.read_text().splitlines() if line]


def write_tiny_vtab(root, task: str = 'kitti', num_classes: Optional[int] = None,
                    train_per_class: int = 10, test_per_class: int = 4, size: int = 32,
                    seed: int = 0) -> Dict[str, object]:
    """Write one VTAB-1k task folder with small images and the four list files.

    The images are those of :func:`~mmsls.datasets.write_tiny_classification` (a coloured shape per
    class). Layout, as :class:`~mmsls.datasets.VTAB1k` reads it::

        root/<task>/train/<class>/<n>.png   root/<task>/train800val200.txt  (all training images)
        root/<task>/test/<class>/<n>.png    root/<task>/train800.txt        (the first 80 %)
                                            root/<task>/val200.txt          (the other 20 %)
                                            root/<task>/test.txt

    Args:
        root: The VTAB-1k root to write into.
        task (str): A VTAB-1k task name; only the folder name and the label range depend on it.
        num_classes (int, optional): Labels drawn, ``0..num_classes-1``. Defaults to the task's
            number of classes, capped at the tiny writer's maximum.
        train_per_class (int): Training images per class (train800val200).
        test_per_class (int): Test images per class.
        size (int): Image side in pixels.
        seed (int): Seed of the drawing; the same arguments write the same files.

    Returns:
        dict: ``data_root`` (the VTAB-1k root), ``task``, ``num_classes`` and the number of
        images in each list file.
    """
    if task not in VTAB1K_TASKS:
        raise ValueError(
            f'unknown VTAB-1k task {task!r}: expected one of {", ".join(VTAB1K_TASKS)}')
    task_classes = VTAB1K_TASKS[task].num_classes
    if num_classes is None:
        num_classes = min(task_classes, MAX_CLASSES)
    if not 2 <= num_classes <= min(task_classes, MAX_CLASSES):
        raise ValueError(f'num_classes must be in [2, {min(task_classes, MAX_CLASSES)}] for '
                         f'{task}, got {num_classes}')
    if train_per_class < 2:
        raise ValueError('train_per_class must be >= 2 so that val200 holds images, got '
                         f'{train_per_class}')
    task_dir = Path(root) / task
    write_tiny_classification(task_dir, num_classes=num_classes, train_per_class=train_per_class,
                              test_per_class=test_per_class, size=size, seed=seed)
    train = _relative_lines(task_dir / 'meta/train.txt', 'train')
    test = _relative_lines(task_dir / 'meta/test.txt', 'test')
    # An 80/20 cut within each class, so that both parts hold every class.
    train800, val200 = [], []
    for label in range(num_classes):
        lines = [line for line in train if line.endswith(f' {label}')]
        cut = max(1, len(lines) * 4 // 5)
        train800 += lines[:cut]
        val200 += lines[cut:]
    splits = dict(train800val200=train800 + val200, train800=train800, val200=val200, test=test)
    for split, lines in splits.items():
        (task_dir / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    for list_file in (task_dir / 'meta').iterdir():
        list_file.unlink()
    (task_dir / 'meta').rmdir()
    return dict(data_root=str(Path(root)), task=task, num_classes=num_classes,
                **{split: len(lines) for split, lines in splits.items()})
