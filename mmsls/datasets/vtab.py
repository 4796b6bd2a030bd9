"""VTAB-1k in the layout the PETL community uses (NOAH, RepAdapter, Convpass, SLS).

One folder per task under the VTAB-1k root, holding the images and four list files::

    <data_root>/<task>/train800val200.txt   # the 1000 training images (train800 + val200)
    <data_root>/<task>/train800.txt
    <data_root>/<task>/val200.txt
    <data_root>/<task>/test.txt
    <data_root>/<task>/<relative/path> ...  # images, at the paths the list files name

Each list line is ``relative/path label``, the path relative to the task folder and the label an
integer in ``[0, num_classes)``.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from mmpretrain.datasets import BaseDataset

from mmsls.registry import DATASETS


@dataclass(frozen=True)
class VTABTask:
    """One VTAB-1k task: its number of classes and its group (natural, specialized, structured)."""
    num_classes: int
    group: str


# The 19 tasks under the folder names of the PETL community's VTAB-1k release, in the order of the
# papers' tables.
VTAB1K_TASKS: Dict[str, VTABTask] = {
    'cifar': VTABTask(100, 'natural'),
    'caltech101': VTABTask(102, 'natural'),
    'dtd': VTABTask(47, 'natural'),
    'oxford_flowers102': VTABTask(102, 'natural'),
    'oxford_iiit_pet': VTABTask(37, 'natural'),
    'svhn': VTABTask(10, 'natural'),
    'sun397': VTABTask(397, 'natural'),
    'patch_camelyon': VTABTask(2, 'specialized'),
    'eurosat': VTABTask(10, 'specialized'),
    'resisc45': VTABTask(45, 'specialized'),
    'diabetic_retinopathy': VTABTask(5, 'specialized'),
    'clevr_count': VTABTask(8, 'structured'),
    'clevr_dist': VTABTask(6, 'structured'),
    'dmlab': VTABTask(6, 'structured'),
    'kitti': VTABTask(4, 'structured'),
    'dsprites_loc': VTABTask(16, 'structured'),
    'dsprites_ori': VTABTask(16, 'structured'),
    'smallnorb_azi': VTABTask(18, 'structured'),
    'smallnorb_ele': VTABTask(9, 'structured'),
}

# ``train800val200`` is what the published recipes train on; they report accuracy on ``test``.
VTAB1K_SPLITS = ('train800val200', 'train800', 'val200', 'test')


@DATASETS.register_module()
class VTAB1k(BaseDataset):
    """One task of VTAB-1k, read from its list files (see the module docstring for the layout).

    Class names are the label indices as strings (``'0'``, ``'1'``, ...): the list files carry no
    names. In a config of any scope::

        dataset=dict(type='mmsls.VTAB1k', data_root='data/vtab-1k', task='cifar',
                     split='train800val200', pipeline=[...])

    Args:
        data_root (str): The VTAB-1k root, holding one folder per task.
        task (str): The task's folder name, one of :data:`VTAB1K_TASKS`.
        split (str): The list file to read, one of :data:`VTAB1K_SPLITS`.
            Defaults to ``'train800val200'``.
        classes (Sequence[str], optional): Class names, one per label of the task. Defaults to the
            label indices as strings.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset`` (``pipeline``, ``test_mode``,
            ``indices``, ...), except ``ann_file`` and ``data_prefix``, which ``task`` and
            ``split`` determine.
    """

    def __init__(self,
                 data_root: str,
                 task: str,
                 split: str = 'train800val200',
                 classes: Optional[Sequence[str]] = None,
                 **kwargs):
        if task not in VTAB1K_TASKS:
            raise ValueError(f'unknown VTAB-1k task {task!r}: expected one of '
                             f'{", ".join(VTAB1K_TASKS)} (the folder names under the VTAB-1k root)')
        if split not in VTAB1K_SPLITS:
            raise ValueError(f'unknown VTAB-1k split {split!r}: expected one of '
                             f'{", ".join(VTAB1K_SPLITS)}')
        for derived in ('ann_file', 'data_prefix'):
            if derived in kwargs:
                raise ValueError(f'VTAB1k sets {derived} from task and split; remove {derived} '
                                 'from the dataset config')
        num_classes = VTAB1K_TASKS[task].num_classes
        if classes is None:
            classes = tuple(str(label) for label in range(num_classes))
        elif len(classes) != num_classes:
            raise ValueError(f'VTAB-1k {task} has {num_classes} classes, got {len(classes)} '
                             'class names; give one name per label or leave classes unset')
        self.task = task
        self.split = split
        super().__init__(
            ann_file=osp.join(task, f'{split}.txt'),
            data_root=data_root,
            data_prefix=task,
            classes=classes,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read ``<task>/<split>.txt`` into ``img_path`` + ``gt_label`` entries."""
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'VTAB-1k list file {self.ann_file} not found: expected '
                f'<data_root>/{self.task}/{self.split}.txt with data_root={self.data_root!r}. '
                'Point data_root at the folder that holds one sub-folder per VTAB-1k task.')
        num_classes = len(self.CLASSES)
        data_list = []
        with open(self.ann_file) as list_file:
            for line_number, line in enumerate(list_file, start=1):
                if not line.strip():
                    continue
                fields = line.rsplit(maxsplit=1)
                where = f'{self.ann_file}:{line_number}'
                if len(fields) != 2 or not fields[1].lstrip('-').isdigit():
                    raise ValueError(
                        f'{where}: expected "relative/path label", got {line.strip()!r}')
                path, label = fields[0], int(fields[1])
                if not 0 <= label < num_classes:
                    raise ValueError(f'{where}: label {label} is outside [0, {num_classes}) of '
                                     f'VTAB-1k {self.task}')
                data_list.append(dict(img_path=osp.join(self.img_prefix, path), gt_label=label))
        if not data_list:
            raise ValueError(f'VTAB-1k list file {self.ann_file} lists no images')
        return data_list

    def extra_repr(self) -> List[str]:
        return [f'Task: \t{self.task}', f'Split: \t{self.split}', *super().extra_repr()]
