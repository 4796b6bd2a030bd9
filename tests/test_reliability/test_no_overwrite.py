"""Issue 16, case 3: tools/export_task.py with OUT equal to its checkpoint or to the shared backbone
checkpoint overwrote it (exit 0), and tools/merge_adapters.py could overwrite its input. Tools now
refuse to write over what they read unless --force, and write through a temporary file renamed into
place, so a failed run leaves no half-written output."""
import hashlib

import pytest
import torch
from mmengine.config import Config

from mmsls.apis import export_task
from mmsls.fileio import atomic_write, check_not_an_input
from ..conftest import TINY_CONFIGS
from .tools_runner import run, save_checkpoint, tiny_model

CONFIG = TINY_CONFIGS['mmpretrain']


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(tmp_path / 'iter_2.pth', tiny_model().state_dict())


def test_export_task_refuses_to_overwrite_its_checkpoint(checkpoint, tmp_path):
    before = _digest(checkpoint)
    proc = run('export_task.py', CONFIG, checkpoint, checkpoint, '--backbone-checkpoint',
               checkpoint, cwd=tmp_path)
    assert proc.returncode != 0
    assert f'refusing to write {checkpoint}: it is an input of this run' in proc.stderr
    assert '--force' in proc.stderr
    assert _digest(checkpoint) == before


def test_export_task_refuses_to_overwrite_the_backbone_checkpoint(checkpoint, tmp_path):
    backbone = save_checkpoint(tmp_path / 'backbone.pth', {})
    link = tmp_path / 'task.pth'
    link.symlink_to(backbone)  # the same file under another name
    for out in (backbone, link):
        with pytest.raises(FileExistsError, match='it is an input of this run'):
            export_task(Config.fromfile(CONFIG), str(checkpoint), str(out), str(backbone))
    assert torch.load(backbone, weights_only=True) == dict(state_dict={}, meta={})


def test_merge_adapters_refuses_to_overwrite_its_checkpoint(tmp_path):
    out = tmp_path / 'merged'
    out.mkdir()
    # Merging again into the directory of an earlier merge, from its merged.pth.
    checkpoint = save_checkpoint(out / 'merged.pth', tiny_model().state_dict())
    before = _digest(checkpoint)
    proc = run('merge_adapters.py', CONFIG, checkpoint, out, cwd=tmp_path)
    assert proc.returncode != 0
    assert 'merged.pth: it is an input of this run' in proc.stderr
    assert _digest(checkpoint) == before


def test_test_py_refuses_to_write_metrics_over_its_checkpoint(checkpoint, tmp_path):
    before = _digest(checkpoint)
    proc = run('test.py', CONFIG, checkpoint, '--out', checkpoint, cwd=tmp_path)
    assert proc.returncode != 0 and 'it is an input of this run' in proc.stderr
    assert _digest(checkpoint) == before


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    out = tmp_path / 'task.pth'
    out.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='interrupted'):
        with atomic_write(out) as path:
            with open(path, 'wb') as file:
                file.write(b'half')
            raise RuntimeError('interrupted')
    assert out.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['task.pth']
    with atomic_write(out) as path:
        torch.save(dict(w=torch.ones(1)), path)
    assert torch.equal(torch.load(out, weights_only=True)['w'], torch.ones(1))
    assert [p.name for p in tmp_path.iterdir()] == ['task.pth']


def test_force_allows_replacing_an_input(tmp_path):
    path = tmp_path / 'a.pth'
    path.write_bytes(b'x')
    check_not_an_input(path, [path], force=True)
    with pytest.raises(FileExistsError):
        check_not_an_input(path, [str(path), None, 'https://example.com/a.pth'])
