"""Issue 16, case 7: a 0-byte or corrupt checkpoint is named as such (was a bare ``EOFError``)."""
import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint

import mmsls  # noqa: F401  (registers the safe loaders)


def test_empty_checkpoint_is_named(tmp_path):
    path = tmp_path / 'iter_2.pth'
    path.write_bytes(b'')
    with pytest.raises(ValueError, match=r'checkpoint .*iter_2.pth is empty \(0 bytes\)'):
        _load_checkpoint(str(path), map_location='cpu')


@pytest.mark.parametrize('damage', ['truncated', 'legacy_truncated', 'garbage'])
def test_corrupt_checkpoint_is_named(damage, tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict=dict(w=torch.randn(64))), path,
               _use_new_zipfile_serialization=damage != 'legacy_truncated')
    data = path.read_bytes()
    cut = dict(truncated=len(data) // 2, legacy_truncated=len(data) - 10).get(damage)
    path.write_bytes(bytes(range(256)) * 4 if damage == 'garbage' else data[:cut])
    with pytest.raises(ValueError, match=r'ckpt.pth is not a readable PyTorch checkpoint \(corrupt'):
        _load_checkpoint(str(path), map_location='cpu')


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='checkpoint .*nope.pth not found'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))
