"""Registries of mmsls: children of MMEngine's root registries.

Two ways to name an mmsls class from a config of any scope (mmpretrain, mmdet, mmseg):

- ``type='mmsls.X'``: MMEngine imports ``mmsls.registry`` by itself, and the lazy ``locations`` below
  import the module that registers ``X``. Nothing else is needed in the config.
- ``custom_imports=dict(imports=['mmsls'])`` and a plain ``type='X'``: a registry of another scope only
  searches itself and its ancestors, never a sibling such as mmsls's. So every mmsls entry is also
  published under the same name in MMEngine's root registry, which every scope searches last.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry


class _PublishedRegistry(Registry):
    """A child registry that also publishes its entries in its parent (MMEngine's root)."""

    def _register_module(self, module, module_name=None, force=False) -> None:
        super()._register_module(module, module_name, force)
        self.parent._register_module(module, module_name, force)


def _child(name: str, parent: Registry, location: str) -> Registry:
    return _PublishedRegistry(name, parent=parent, scope='mmsls', locations=[location])


MODELS = _PublishedRegistry('model', parent=MMENGINE_MODELS, scope='mmsls',
                            locations=['mmsls.adapters', 'mmsls.depth'])
HOOKS = _child('hook', MMENGINE_HOOKS, 'mmsls.hooks')
DATASETS = _child('dataset', MMENGINE_DATASETS, 'mmsls.datasets')
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, 'mmsls.datasets')
