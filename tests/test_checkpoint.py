"""Safe loading stays on: MMEngine's own checkpoints load, anything that would run code is refused."""
import os
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

import mmsls  # noqa: F401  (allow-lists MMEngine's checkpoint types)


class _RunsCommand:
    """Unpickling this calls os.system: the classic poisoned checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _ReachesAttribute:
    """Unpickling this calls getattr on an allowed class for something that is not a statistic."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, 'update')


def test_message_hub_state_loads_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('test_checkpoint')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', torch.tensor(0.25))
    hub.update_info('iter', 3)
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict=dict(w=torch.randn(2)), message_hub=hub.state_dict(),
                    meta=dict(seed=0)), path)
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.375)
    assert buffer.min() == pytest.approx(0.25)


def test_poisoned_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'poisoned.pth'
    torch.save(dict(state_dict=dict(w=torch.randn(2)), meta=_RunsCommand(marker)), path)
    with pytest.raises(pickle.UnpicklingError, match='(?s)Weights only load failed.*posix.system'):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_getattr_in_checkpoint_is_restricted_to_statistics(tmp_path):
    path = tmp_path / 'reach.pth'
    torch.save(dict(x=_ReachesAttribute()), path)
    with pytest.raises(pickle.UnpicklingError, match="refusing getattr.*'update'"):
        torch.load(path, weights_only=True)
