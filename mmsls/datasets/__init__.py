"""Datasets: VTAB-1k, the bundled digits of the demo, and tiny sets in the real formats for tests."""
from .digits import DIGITS_TASKS, DigitsDataset
from .tiny import (ade20k_classes, write_tiny_ade20k, write_tiny_classification,
                   write_tiny_coco)
from .tiny_vtab import write_tiny_vtab
from .vtab import VTAB1K_SPLITS, VTAB1K_TASKS, VTAB1k, VTABTask

__all__ = ['DIGITS_TASKS', 'DigitsDataset', 'VTAB1K_SPLITS', 'VTAB1K_TASKS', 'VTAB1k', 'VTABTask',
           'ade20k_classes', 'write_tiny_ade20k', 'write_tiny_classification', 'write_tiny_coco',
           'write_tiny_vtab']
