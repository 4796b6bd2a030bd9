"""Backbone families: one file per family declares everything mmsls knows about that backbone.

Importing this package registers the families in :data:`FAMILIES`, in the order they are tried.
"""
from . import vit, swin, cnn  # noqa: F401, I001  (registers the families, in this order)
from .base import AdapterSite, BackboneFamily, FeatureView, PatchGrid, PrunableUnit
from .containers import PrunedLayers, SequentialPrunedLayers
from .registry import FAMILIES, find_family, register_family, supported_backbones

__all__ = [
    'AdapterSite', 'BackboneFamily', 'FAMILIES', 'FeatureView', 'PatchGrid', 'PrunableUnit',
    'PrunedLayers', 'SequentialPrunedLayers', 'find_family', 'register_family', 'supported_backbones'
]
