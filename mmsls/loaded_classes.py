"""Class checks against libraries that may not be imported.

An instance of a class implies that its module is imported, so asking ``sys.modules`` is enough to
recognise, say, an mmdet Swin without importing mmdet (which pulls in mmcv's compiled ops) when the
model at hand is an mmpretrain one.
"""
import sys
from typing import Optional


def loaded_class(module_name: str, class_name: str) -> Optional[type]:
    """``module_name.class_name`` if that module is imported, else None."""
    return getattr(sys.modules.get(module_name), class_name, None)


def is_instance_of(obj: object, module_name: str, class_name: str) -> bool:
    """``isinstance(obj, module_name.class_name)`` without importing ``module_name``."""
    cls = loaded_class(module_name, class_name)
    return cls is not None and isinstance(obj, cls)
