"""Guards for the older torch and numpy releases that mmsls supports.

The supported range and the measured matrix are in docs/getting_started.md ("Supported versions").
Each guard names the release that made it necessary: when the lower bound in
requirements/runtime.txt moves past that release, delete the guard.

- Safe loading (:func:`add_safe_globals`, :func:`safe_load`). torch's ``weights_only`` unpickler
  takes extra allowed types from torch 2.4 (``torch.serialization.add_safe_globals``) and entries
  under an explicit pickle name, ``(object, 'module.name')``, from torch 2.6. MMEngine's checkpoints
  need both (see :mod:`mmsls.checkpoint`). On older torch, :func:`safe_load` unpickles with a
  restricted unpickler instead: pickle's own allow-list mechanism (``Unpickler.find_class``) that
  resolves only torch's default safe globals plus mmsls's allow-list, and refuses every other global
  with the same ``Unsupported global`` message as torch. Safe loading stays on either way.
- numpy 2 renamed ``numpy.core`` to ``numpy._core`` (:data:`NUMPY_CORE`). Pickles name the module of
  the numpy that wrote them, so :func:`numpy_array_globals` allow-lists numpy's reconstructors under
  both names: a checkpoint written under numpy 1 loads under numpy 2 and back.
- ``nn.Module.register_state_dict_post_hook`` and ``register_load_state_dict_pre_hook`` are public
  from torch 2.5 (:func:`register_state_dict_post_hook`, :func:`register_load_state_dict_pre_hook`).

And one rule for optional dependencies: mmpretrain, mmdet, mmseg and scikit-learn are imported where
they are used, never by ``import mmsls``; :func:`require` turns a missing one into an error that
names what needs it and the install command.
"""
import codecs
import importlib
import pickle
import re
import types
from typing import Any, Callable, Dict, Iterable, List

import numpy as np
import torch
from torch import nn


def _release(version: str) -> tuple:
    """``'2.1.2+cu121'`` -> ``(2, 1)``."""
    return tuple(int(part) for part in re.match(r'(\d+)\.(\d+)', version).groups())


TORCH_RELEASE = _release(torch.__version__)
NUMPY_RELEASE = _release(np.__version__)

# torch 2.4 added ``torch.serialization.add_safe_globals``; 2.6 its ``(object, 'module.name')``
# entries (which torch 2.4 and 2.5 cannot read: a tuple in their list breaks every weights_only
# load) and ``weights_only=True`` as torch.load's default.
TORCH_HAS_SAFE_GLOBALS = hasattr(torch.serialization, 'add_safe_globals')
TORCH_SAFE_GLOBALS_BY_NAME = TORCH_RELEASE >= (2, 6)

# numpy >= 2: numpy._core (numpy.core is a deprecated alias that warns); numpy 1: numpy.core.
NUMPY_CORE = importlib.import_module('numpy._core' if NUMPY_RELEASE >= (2, 0) else 'numpy.core')

# What mmsls allow-lists, by the name a pickle uses for it: read by the restricted unpickler.
_SAFE_GLOBALS: Dict[str, Any] = {}


def numpy_array_globals() -> List[Any]:
    """numpy's array and scalar reconstructors, for an allow-list, under both of numpy's module
    names (``numpy.core.multiarray`` written by numpy 1, ``numpy._core.multiarray`` by numpy 2)."""
    entries: List[Any] = []
    for function in (NUMPY_CORE.multiarray._reconstruct, NUMPY_CORE.multiarray.scalar):
        entries.append(function)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            if module != function.__module__:
                entries.append((function, f'{module}.{function.__name__}'))
    return entries


def add_safe_globals(entries: Iterable[Any]) -> None:
    """Allow-list ``entries`` for safe loading, on every supported torch.

    Args:
        entries: Classes or functions (allowed under ``module.name``) and
            ``(object, 'module.name')`` pairs (allowed under that pickle name), as torch >= 2.6
            takes them.

    torch's own allow-list gets what the running torch can take (everything on >= 2.6, the plain
    entries on 2.4 and 2.5, nothing before); :func:`safe_load` accepts all of them on every version.
    Idempotent.
    """
    entries = list(entries)
    for entry in entries:
        obj, name = entry if isinstance(entry, tuple) else (entry, _pickle_name(entry))
        _SAFE_GLOBALS[name] = obj
    if TORCH_SAFE_GLOBALS_BY_NAME:
        torch.serialization.add_safe_globals(entries)
    elif TORCH_HAS_SAFE_GLOBALS:
        torch.serialization.add_safe_globals([e for e in entries if not isinstance(e, tuple)])


def _pickle_name(obj: Any) -> str:
    return f'{obj.__module__}.{obj.__name__}'


def safe_load(file, map_location: Any = 'cpu') -> Any:
    """``torch.load`` that only unpickles tensors, plain containers and allow-listed types.

    torch >= 2.6: ``torch.load(weights_only=True)``. Older torch: torch.load with the restricted
    unpickler of this module (see the module notes). A file naming any other global is refused with
    ``pickle.UnpicklingError`` (``Unsupported global``) on every version.

    Args:
        file: A path or a binary file object, as for ``torch.load``.
        map_location: As for ``torch.load``. Defaults to ``'cpu'``.
    """
    if TORCH_SAFE_GLOBALS_BY_NAME:
        return torch.load(file, map_location=map_location, weights_only=True)
    return restricted_load(file, map_location)


def restricted_load(file, map_location: Any = 'cpu') -> Any:
    """The fallback of :func:`safe_load` for torch < 2.6 (it also runs on newer torch, for tests).

    torch unpickles the file (zip or legacy format) with the restricted unpickler passed as
    ``pickle_module``, the one way to restrict torch's loader before 2.6; torch refuses to combine
    ``pickle_module`` with ``weights_only=True``, so the restricted unpickler is what keeps this load
    safe.
    """
    return torch.load(file, map_location=map_location, pickle_module=_RESTRICTED_PICKLE)


def _allowed_globals() -> Dict[str, Any]:
    # torch's defaults for weights_only loading (tensors, storages, dtypes, OrderedDict, ...),
    # private but present with this name in every torch that takes this path (1.13 to 2.5 and on).
    from torch import _weights_only_unpickler
    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    # Bytes inside protocol-2 pickles (numpy arrays); in torch's defaults only from 2.4 on.
    allowed['_codecs.encode'] = codecs.encode
    allowed.update(_SAFE_GLOBALS)
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals (pickle's documented way to restrict unpickling)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        if f'{module}.{name}' not in self._allowed:
            raise pickle.UnpicklingError(
                f'Weights only load failed: Unsupported global: GLOBAL {module}.{name} is not '
                'allow-listed for safe loading (mmsls.compat.safe_load). Load only files from '
                'trusted sources; to allow a type you trust, pass it to '
                'mmsls.compat.add_safe_globals.')
        return self._allowed[f'{module}.{name}']


def _restricted_pickle_load(file, **kwargs) -> Any:
    return _RestrictedUnpickler(file, **kwargs).load()


# torch.load's ``pickle_module``: torch uses its ``Unpickler``, ``load`` and ``__name__``.
_RESTRICTED_PICKLE = types.ModuleType('mmsls_restricted_pickle')
_RESTRICTED_PICKLE.Unpickler = _RestrictedUnpickler
_RESTRICTED_PICKLE.load = _restricted_pickle_load

# torch 2.5 made these hook APIs public; before, the same hooks (same arguments, editing the state
# dict in place) register through the private methods that the public ones wrap.
_HAS_STATE_DICT_POST_HOOK = hasattr(nn.Module, 'register_state_dict_post_hook')
_HAS_LOAD_STATE_DICT_PRE_HOOK = hasattr(nn.Module, 'register_load_state_dict_pre_hook')


def register_state_dict_post_hook(module: nn.Module, hook: Callable) -> Any:
    """``module.register_state_dict_post_hook(hook)`` on every supported torch.

    ``hook(module, state_dict, prefix, local_metadata)`` edits ``state_dict`` in place and returns
    None. Returns the removable handle.
    """
    if _HAS_STATE_DICT_POST_HOOK:
        return module.register_state_dict_post_hook(hook)
    return module._register_state_dict_hook(hook)


def register_load_state_dict_pre_hook(module: nn.Module, hook: Callable) -> Any:
    """``module.register_load_state_dict_pre_hook(hook)`` on every supported torch.

    ``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
    error_msgs)`` runs before ``module`` loads its part of ``state_dict``. Returns the removable
    handle.
    """
    if _HAS_LOAD_STATE_DICT_PRE_HOOK:
        return module.register_load_state_dict_pre_hook(hook)
    return module._register_load_state_dict_pre_hook(hook, with_module=True)


def require(package: str, install: str, needed_for: str) -> None:
    """Import ``package`` or fail with an error naming ``needed_for`` and ``pip install <install>``.

    Only a missing ``package`` itself gets the new message; an installed package that fails to
    import raises its own error.
    """
    try:
        importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name != package:
            raise
        raise ModuleNotFoundError(
            f'{needed_for} needs {install}, which is not installed (import {package} failed): '
            f'pip install {install}, or pip install "mmsls[all]" for every optional dependency',
            name=package) from None
