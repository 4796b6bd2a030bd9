"""write_tiny_vtab writes a VTAB-1k task folder with consistent list files."""
from pathlib import Path

import pytest

from mmsls.datasets import write_tiny_vtab


def _lines(task_dir: Path, split: str):
    return task_dir.joinpath(f'{split}.txt').read_text().splitlines()


def test_splits_are_consistent_and_hold_every_class(tmp_path):
    info = write_tiny_vtab(tmp_path, task='dmlab', num_classes=3, train_per_class=5,
                           test_per_class=2, size=24)
    task_dir = tmp_path / 'dmlab'
    train800, val200 = _lines(task_dir, 'train800'), _lines(task_dir, 'val200')
    trainval, test = _lines(task_dir, 'train800val200'), _lines(task_dir, 'test')
    assert sorted(trainval) == sorted(train800 + val200) and not set(train800) & set(val200)
    counts = [info[split] for split in ('train800val200', 'train800', 'val200', 'test')]
    assert counts == [15, 12, 3, 6]
    for lines in (train800, val200, test):
        assert {line.rsplit(' ', 1)[1] for line in lines} == {'0', '1', '2'}
    for line in trainval + test:
        assert (task_dir / line.rsplit(' ', 1)[0]).is_file()
    assert not (task_dir / 'meta').exists()


def test_same_arguments_write_the_same_files(tmp_path):
    write_tiny_vtab(tmp_path / 'a', task='kitti', train_per_class=2, test_per_class=1)
    write_tiny_vtab(tmp_path / 'b', task='kitti', train_per_class=2, test_per_class=1)
    files = sorted(p.relative_to(tmp_path / 'a') for p in (tmp_path / 'a').rglob('*.*'))
    assert files
    for rel in files:
        assert (tmp_path / 'a' / rel).read_bytes() == (tmp_path / 'b' / rel).read_bytes()


def test_class_count_defaults_to_the_task_capped_at_the_writer_maximum(tmp_path):
    assert write_tiny_vtab(tmp_path, task='kitti', train_per_class=2)['num_classes'] == 4
    assert write_tiny_vtab(tmp_path, task='cifar', train_per_class=2)['num_classes'] == 10


@pytest.mark.parametrize('kwargs, match', [
    (dict(task='imagenet'), 'unknown VTAB-1k task'),
    (dict(task='patch_camelyon', num_classes=3), r'num_classes must be in \[2, 2\]'),
    (dict(task='kitti', train_per_class=1), 'train_per_class must be >= 2'),
])
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_tiny_vtab(tmp_path, **kwargs)
