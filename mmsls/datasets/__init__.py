from .digits import DIGITS_TASKS, DigitsDataset  # noqa: F401  (registers the dataset)
from .tiny import (ade20k_classes, write_tiny_ade20k, write_tiny_classification,
                   write_tiny_coco)
from .tiny_vtab import write_tiny_vtab
from .vtab import VTAB1K_SPLITS, VTAB1K_TASKS, VTAB1k, VTABTask

__all__ = ['write_tiny_classification', 'write_tiny_coco', 'write_tiny_ade20k', 'ade20k_classes',
           'VTAB1k', 'VTAB1K_TASKS', 'VTAB1K_SPLITS', 'VTABTask', 'write_tiny_vtab']
