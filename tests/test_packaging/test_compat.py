"""The guards of mmsls.compat, on this torch/numpy and on the fallback paths of older releases."""
import io
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from torch import nn

import mmsls  # noqa: F401  (allow-lists MMEngine's checkpoint types)
from mmsls import compat
from mmsls.checkpoint import mmengine_checkpoint_types


class _RunsCommand:
    """Unpickling this calls os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _OtherNumpyPickler(pickle._Pickler):
    """Writes numpy's reconstructors under the module name of the *other* numpy major version, as a
    checkpoint saved there names them (numpy.core <-> numpy._core)."""

    def save_global(self, obj, name=None):
        module = getattr(obj, '__module__', '')
        for ours, theirs in (('numpy._core.', 'numpy.core.'), ('numpy.core.', 'numpy._core.')):
            if module.startswith(ours) and compat.NUMPY_CORE.__name__ + '.' == ours:
                self.write(pickle.GLOBAL + f'{theirs}{module[len(ours):]}\n{obj.__name__}\n'
                           .encode())
                self.memoize(obj)
                return
        super().save_global(obj, name)


class _OtherNumpyPickle:
    Pickler = _OtherNumpyPickler


def runner_checkpoint(name: str) -> dict:
    """A checkpoint as MMEngine's Runner saves it: tensors, a message hub with HistoryBuffers of
    numpy scalars and tensors, meta data."""
    hub = MessageHub.get_instance(name)
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', torch.tensor(0.25))
    hub.update_scalar('train/lr', np.float64(1e-3))
    hub.update_info('iter', 3)
    return dict(state_dict=dict(w=torch.randn(3, 2), b=torch.randn(2)),
                message_hub=hub.state_dict(), meta=dict(seed=0, arr=np.arange(4.0)))


@pytest.fixture(params=['safe_load', 'restricted_load'])
def load(request):
    """Both loaders: ``safe_load`` (this torch's way) and the fallback of torch < 2.6."""
    return getattr(compat, request.param)


def check_loaded(loaded, saved):
    for key in ('w', 'b'):
        assert torch.equal(loaded['state_dict'][key], saved['state_dict'][key])
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.375) and buffer.min() == pytest.approx(0.25)
    np.testing.assert_array_equal(loaded['meta']['arr'], np.arange(4.0))


def test_runner_checkpoint_loads_safely(tmp_path, load):
    saved = runner_checkpoint('compat_load')
    torch.save(saved, tmp_path / 'ckpt.pth')
    check_loaded(load(tmp_path / 'ckpt.pth'), saved)
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    check_loaded(load(buffer), saved)


def test_checkpoint_of_the_other_numpy_major_version_loads(tmp_path, load):
    saved = runner_checkpoint('compat_numpy')
    path = tmp_path / 'other_numpy.pth'
    torch.save(saved, path, pickle_module=_OtherNumpyPickle, _use_new_zipfile_serialization=True)
    other = 'numpy.core.multiarray' if compat.NUMPY_RELEASE >= (2, 0) else 'numpy._core.multiarray'
    with open(path, 'rb') as file:
        assert other.encode() in file.read()
    check_loaded(load(path), saved)


def test_code_in_a_checkpoint_is_refused_and_runs_nothing(tmp_path, load):
    marker = tmp_path / 'pwned'
    torch.save(dict(w=torch.randn(2), meta=_RunsCommand(marker)), tmp_path / 'poisoned.pth')
    with pytest.raises(pickle.UnpicklingError,
                       match='(?s)Weights only load failed.*(posix|os)\\.system'):
        load(tmp_path / 'poisoned.pth')
    assert not marker.exists()


def test_legacy_format_goes_through_the_restricted_unpickler(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'legacy.pth'
    torch.save(dict(w=torch.ones(2), meta=_RunsCommand(marker)), path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(pickle.UnpicklingError,
                       match='Unsupported global: GLOBAL (posix|os).system'):
        compat.restricted_load(path)
    assert not marker.exists()
    torch.save(dict(w=torch.ones(2)), path, _use_new_zipfile_serialization=False)
    assert torch.equal(compat.restricted_load(path)['w'], torch.ones(2))


def test_torch_gets_only_the_entries_it_can_read(monkeypatch):
    """torch 2.4/2.5 take classes and functions, but break on (object, name) pairs; torch < 2.4
    has no allow-list at all. mmsls's own loader accepts all of them on every version."""
    received = []
    monkeypatch.setattr(torch.serialization, 'add_safe_globals', received.extend, raising=False)
    entries = mmengine_checkpoint_types()
    plain = [entry for entry in entries if not isinstance(entry, tuple)]
    for has_list, by_name, expected in ((True, True, entries), (True, False, plain),
                                        (False, False, [])):
        received.clear()
        monkeypatch.setattr(compat, 'TORCH_HAS_SAFE_GLOBALS', has_list)
        monkeypatch.setattr(compat, 'TORCH_SAFE_GLOBALS_BY_NAME', by_name)
        compat.add_safe_globals(entries)
        assert received == expected
    assert compat._SAFE_GLOBALS['builtins.getattr'] is not getattr  # the restricted statistic
    assert compat._SAFE_GLOBALS['numpy.core.multiarray._reconstruct'] is \
        compat._SAFE_GLOBALS['numpy._core.multiarray._reconstruct']


def test_this_torch_takes_the_allow_list_it_is_given():
    if compat.TORCH_SAFE_GLOBALS_BY_NAME:
        names = {entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__name__}'
                 for entry in torch.serialization.get_safe_globals()}
        assert {'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct',
                'builtins.getattr'} <= names
    else:
        assert not any(isinstance(entry, tuple)
                       for entry in getattr(torch.serialization, 'get_safe_globals', list)())


class _Wrapper(nn.Module):
    """State dict under the inner module's names, as AdaptedBackbone keeps it."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 2)


def strip_inner_hook():
    """A new hook function each time: torch marks a function registered through its public API."""

    def strip_inner(module, state_dict, prefix, local_metadata):
        for key in [key for key in state_dict if key.startswith(prefix + 'inner.')]:
            state_dict[prefix + key[len(prefix + 'inner.'):]] = state_dict.pop(key)

    return strip_inner


@pytest.mark.parametrize('public', [True, False], ids=['public-api', 'torch<2.5'])
def test_state_dict_post_hook(monkeypatch, public):
    monkeypatch.setattr(compat, '_HAS_STATE_DICT_POST_HOOK',
                        public and hasattr(nn.Module, 'register_state_dict_post_hook'))
    outer = nn.Sequential(_Wrapper())
    handle = compat.register_state_dict_post_hook(outer[0], strip_inner_hook())
    assert sorted(outer.state_dict()) == ['0.bias', '0.weight']
    assert torch.equal(outer.state_dict()['0.weight'], outer[0].inner.weight)
    handle.remove()
    assert sorted(outer.state_dict()) == ['0.inner.bias', '0.inner.weight']


def test_numpy_core_is_the_running_numpys():
    assert compat.NUMPY_CORE.multiarray._reconstruct is np.ndarray.__reduce__(np.zeros(1))[0]


def test_require_names_the_package_and_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, 'sklearn', None)
    with pytest.raises(ModuleNotFoundError,
                       match=r"select_depth\(backend='sklearn'\) needs scikit-learn.*pip install "
                             r'scikit-learn') as error:
        compat.require('sklearn', 'scikit-learn', "select_depth(backend='sklearn')")
    assert error.value.name == 'sklearn'
    compat.require('numpy', 'numpy', 'anything')  # installed: no error


@pytest.mark.parametrize('public', [True, False], ids=['public-api', 'torch<2.5'])
def test_load_state_dict_pre_hook(monkeypatch, public):
    monkeypatch.setattr(compat, '_HAS_LOAD_STATE_DICT_PRE_HOOK',
                        public and hasattr(nn.Module, 'register_load_state_dict_pre_hook'))
    seen = []

    def add_inner(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        seen.append(module)
        for key in [key for key in state_dict if key.startswith(prefix)]:
            state_dict[prefix + 'inner.' + key[len(prefix):]] = state_dict.pop(key)

    outer = nn.Sequential(_Wrapper())
    compat.register_load_state_dict_pre_hook(outer[0], add_inner)
    weight, bias = torch.randn(2, 3), torch.randn(2)
    outer.load_state_dict({'0.weight': weight, '0.bias': bias})
    assert seen == [outer[0]]
    assert torch.equal(outer[0].inner.weight, weight) and torch.equal(outer[0].inner.bias, bias)
