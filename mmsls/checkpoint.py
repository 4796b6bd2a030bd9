"""Safe loading of MMEngine checkpoints under torch >= 2.6.

torch.load defaults to ``weights_only=True`` since torch 2.6, and mmengine 0.10.7 calls it without the
argument. Checkpoints saved by MMEngine's own Runner then fail to load, because the message hub state in
them holds a few non-tensor types. We keep safe loading on and allow-list exactly those types: they are
plain data containers that cannot run code when unpickled. A checkpoint whose pickle names anything else
(e.g. ``os.system``) is still refused by torch.
"""
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _history_buffer_statistic(owner, name):
    """A ``getattr`` restricted to HistoryBuffer's statistics methods.

    ``HistoryBuffer`` keeps its statistics methods (``HistoryBuffer.min`` ...) in a dict, and pickle stores
    each as ``getattr(HistoryBuffer, 'min')``. Allow-listing the builtin ``getattr`` would let a pickle reach
    any attribute of any allowed object (and from there, code), so the checkpoint's ``getattr`` resolves to
    this function instead, which serves exactly those methods.
    """
    # The four built-in statistics, plus any registered with ``HistoryBuffer.register_statistics``.
    allowed = {name: getattr(HistoryBuffer, name) for name in ('min', 'max', 'current', 'mean')}
    allowed.update(HistoryBuffer._statistics_methods)
    if owner is not HistoryBuffer or name not in allowed:
        raise pickle.UnpicklingError(
            f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only HistoryBuffer statistics '
            f'methods {sorted(allowed)} may be looked up while loading safely')
    return allowed[name]


def mmengine_checkpoint_types() -> list:
    """The non-tensor types found in checkpoints saved by MMEngine's Runner.

    ``HistoryBuffer`` holds logged scalars in the message hub; it stores them as numpy arrays and
    scalars, which pickle through numpy's array reconstructor, ``ndarray``, ``dtype`` and the concrete
    dtype classes (``numpy.dtypes.Float64DType``, ...).
    """
    dtype_classes = [
        cls for cls in vars(np.dtypes).values()
        if isinstance(cls, type) and issubclass(cls, np.dtype)
    ]
    return [
        HistoryBuffer,
        np._core.multiarray._reconstruct,
        np._core.multiarray.scalar,
        np.ndarray,
        np.dtype,
        *dtype_classes,
        (_history_buffer_statistic, 'builtins.getattr'),
        (_history_buffer_statistic, '__builtin__.getattr'),
    ]


def allow_mmengine_checkpoints() -> None:
    """Allow-list MMEngine's checkpoint types for ``torch.load(weights_only=True)``.

    Idempotent: torch keeps the allow-list as a set keyed by type.
    """
    torch.serialization.add_safe_globals(mmengine_checkpoint_types())
