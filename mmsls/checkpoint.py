"""Safe loading of checkpoints from every source MMEngine reads.

torch.load defaults to ``weights_only=True`` since torch 2.6, and mmengine 0.10.7 calls it without the
argument. Checkpoints saved by MMEngine's own Runner then fail to load, because the message hub state in
them holds a few non-tensor types. We keep safe loading on and allow-list exactly those types: they are
plain data containers that cannot run code when unpickled. A checkpoint whose pickle names anything else
(e.g. ``os.system``) is still refused by torch.

MMEngine's remote sources (``http(s)://``, ``torchvision://``, ``open-mmlab://``, ``mmcls://`` ...) go
through ``torch.hub.load_state_dict_from_url``, whose ``weights_only`` is False: a poisoned file at a URL,
or in torch hub's cache, would run its code. :func:`register_safe_loaders` registers, through MMEngine's
``CheckpointLoader.register_scheme``, a loader for every scheme MMEngine knows that downloads (or reads)
the file as MMEngine does and always loads it with ``torch.load(..., weights_only=True)``; an empty or
unreadable file is named as such.
"""
import io
import logging
import os
import os.path as osp
import pickle
import sys
from collections import OrderedDict
from tempfile import TemporaryDirectory
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.fileio import get_file_backend
from mmengine.logging import print_log
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import (CheckpointLoader, _get_mmengine_home,
                                        get_deprecated_model_names, get_external_models,
                                        get_mmcls_models, get_torchvision_models)

from .compat import add_safe_globals, numpy_array_globals, safe_load


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
        *numpy_array_globals(),
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
    add_safe_globals(mmengine_checkpoint_types())


def safe_torch_load(source, map_location=None, name=None):
    """``torch.load(source, weights_only=True)`` with errors that say what is wrong with the file.

    Args:
        source (str | file-like): A local path, or a buffer holding the file's bytes.
        map_location: As for :func:`torch.load`.
        name (str, optional): How to name the checkpoint in errors. Defaults to ``source`` for a path.

    Raises:
        FileNotFoundError: No file at ``source``.
        ValueError: The file is empty (0 bytes) or not a readable PyTorch checkpoint (truncated, corrupt).
        pickle.UnpicklingError: The file names something that safe loading refuses (code it would run,
            or a type outside the allow-list); nothing of it ran.
    """
    if isinstance(source, (str, os.PathLike)):
        source = osp.expanduser(os.fspath(source))
        name = name or source
        if not osp.isfile(source):
            raise FileNotFoundError(f'checkpoint {name} not found: no file at {source}')
        empty = osp.getsize(source) == 0
    else:
        name = name or 'the checkpoint'
        empty = source.getbuffer().nbytes == 0 if isinstance(source, io.BytesIO) else False
    if empty:
        raise ValueError(f'checkpoint {name} is empty (0 bytes): it was not written or downloaded '
                         'completely; save or download it again')
    try:
        return safe_load(source, map_location)
    except pickle.UnpicklingError as error:
        # Bytes that are no pickle at all ("Unsupported operand") are a broken file; anything else
        # the weights-only unpickler rejects is a refusal of what the file asks to build.
        if 'Unsupported operand' in str(error) or 'Weights only load failed' not in str(error):
            raise _unreadable(name, error) from None
        raise pickle.UnpicklingError(
            f'refusing to load checkpoint {name}: safe loading (weights_only=True) found something in '
            'it that is neither a tensor nor an allow-listed MMEngine type, e.g. code that would run '
            f'when it is unpickled; nothing of it ran. Only load files you trust. torch says: {error}'
        ) from None
    except (EOFError, KeyError) as error:  # a truncated legacy pickle, bytes that are no checkpoint
        raise _unreadable(name, error) from None
    except RuntimeError as error:
        # torch's readers of the zip and the legacy format ("PytorchStreamReader failed ...",
        # "[enforce fail at inline_container", "unexpected EOF ... might be corrupted")
        if not any(sign in str(error) for sign in _BROKEN_FILE_SIGNS):
            raise
        raise _unreadable(name, error) from None


_BROKEN_FILE_SIGNS = ('PytorchStreamReader', 'inline_container', 'unexpected EOF', 'corrupted')


def _unreadable(name: str, error: Exception) -> ValueError:
    return ValueError(f'checkpoint {name} is not a readable PyTorch checkpoint (corrupt, truncated, '
                      f'or not a checkpoint at all): {type(error).__name__}: {error}. Save or '
                      'download it again')


def _hub_cache_file(url: str, model_dir=None, progress: bool = True) -> str:
    """Where torch hub keeps ``url`` (``<hub dir>/checkpoints/<file name>``), downloaded if missing.

    The same cache as ``torch.hub.load_state_dict_from_url``, so files it downloaded are reused.
    """
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached_file = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.exists(cached_file):
        sys.stderr.write(f'Downloading: "{url}" to {cached_file}\n')
        # torch writes to a temporary file and renames it: no half-written file stays in the cache.
        torch.hub.download_url_to_file(url, cached_file, progress=progress)
    return cached_file


def load_from_local(filename, map_location=None):
    """A local checkpoint file, loaded safely."""
    return safe_torch_load(filename, map_location)


def load_from_http(filename, map_location=None, model_dir=None, progress=os.isatty(0)):
    """A checkpoint at an http(s) URL, through torch hub's cache, loaded safely.

    As MMEngine's loader, in a distributed run rank 0 downloads first and the other ranks read the
    cached file after a barrier.
    """
    rank, world_size = get_dist_info()
    if rank == 0:
        cached_file = _hub_cache_file(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached_file = _hub_cache_file(filename, model_dir, progress)
    return safe_torch_load(cached_file, map_location, name=f'{filename} (cached at {cached_file})')


def _model_url(urls: dict, name: str, scheme: str) -> str:
    if name not in urls:
        raise KeyError(f'{scheme}{name} is not a checkpoint MMEngine knows; names look like '
                       f'{", ".join(sorted(urls)[:5])}, ...')
    return urls[name]


def load_from_torchvision(filename, map_location=None):
    """``torchvision://NAME`` (and the deprecated ``modelzoo://NAME``), loaded safely."""
    scheme = 'modelzoo://' if filename.startswith('modelzoo://') else 'torchvision://'
    if scheme == 'modelzoo://':
        print_log('The URL scheme of "modelzoo://" is deprecated, please use "torchvision://" '
                  'instead', logger='current', level=logging.WARNING)
    url = _model_url(get_torchvision_models(), filename[len(scheme):], scheme)
    return load_from_http(url, map_location=map_location)


def load_from_openmmlab(filename, map_location=None):
    """``open-mmlab://NAME`` / ``openmmlab://NAME`` (a URL or a file under MMEngine's home), safely."""
    scheme = 'open-mmlab://' if filename.startswith('open-mmlab://') else 'openmmlab://'
    name = filename[len(scheme):]
    deprecated = get_deprecated_model_names()
    if name in deprecated:
        print_log(f'{scheme}{name} is deprecated in favor of {scheme}{deprecated[name]}',
                  logger='current', level=logging.WARNING)
        name = deprecated[name]
    url = _model_url(get_external_models(), name, scheme)
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location=map_location)
    return safe_torch_load(osp.join(_get_mmengine_home(), url), map_location)


def load_from_mmcls(filename, map_location=None):
    """``mmcls://NAME``: the backbone weights of an mmcls checkpoint, loaded safely."""
    url = _model_url(get_mmcls_models(), filename[len('mmcls://'):], 'mmcls://')
    checkpoint = load_from_http(url, map_location=map_location)
    state_dict = checkpoint.get('state_dict', checkpoint)
    # As MMEngine does: keep the backbone's weights, without their 'backbone.' prefix.
    return dict(state_dict=OrderedDict((key[len('backbone.'):], value)
                                       for key, value in state_dict.items()
                                       if key.startswith('backbone.')))


def load_from_pavi(filename, map_location=None):
    """``pavi://PATH`` (needs the ``pavi`` package), loaded safely."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError('Please install pavi to load checkpoint from modelcloud.') from None
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        downloaded_file = osp.join(tmp_dir, model.name)
        model.download(downloaded_file)
        return safe_torch_load(downloaded_file, map_location, name=filename)


def load_from_ceph(filename, map_location=None, backend='petrel'):
    """``s3://`` / ``petrel://`` paths (through MMEngine's file backend), loaded safely."""
    file_backend = get_file_backend(filename, backend_args={'backend': backend})
    with io.BytesIO(file_backend.get(filename)) as buffer:
        return safe_torch_load(buffer, map_location, name=filename)


#: MMEngine's checkpoint schemes (its own prefixes) and their safe loaders.
SAFE_LOADERS = {
    '': load_from_local,
    ('http://', 'https://'): load_from_http,
    ('modelzoo://', 'torchvision://'): load_from_torchvision,
    ('open-mmlab://', 'openmmlab://'): load_from_openmmlab,
    'mmcls://': load_from_mmcls,
    'pavi://': load_from_pavi,
    (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): load_from_ceph,
}


def register_safe_loaders() -> None:
    """Make every checkpoint scheme of MMEngine's ``CheckpointLoader`` load with ``weights_only=True``.

    Replaces the loader of each scheme MMEngine registers (see :data:`SAFE_LOADERS`) through
    ``CheckpointLoader.register_scheme(..., force=True)``. Idempotent.
    """
    for prefixes, loader in SAFE_LOADERS.items():
        CheckpointLoader.register_scheme(prefixes, loader, force=True)
