"""VTAB1k reads the PETL community's VTAB-1k layout through mmpretrain's dataset machinery."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmsls.datasets import VTAB1K_SPLITS, VTAB1K_TASKS, VTAB1k, write_tiny_vtab

PIPELINE = [dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(224, 224), interpolation='bicubic', backend='pillow'),
            dict(type='PackInputs')]


@pytest.fixture(scope='module')
def tiny_vtab(tmp_path_factory):
    return write_tiny_vtab(tmp_path_factory.mktemp('vtab'), task='kitti', train_per_class=5,
                           test_per_class=2, size=40)


def test_the_19_tasks_and_their_groups():
    assert len(VTAB1K_TASKS) == 19
    groups = [task.group for task in VTAB1K_TASKS.values()]
    assert (groups.count('natural'), groups.count('specialized'), groups.count('structured')) \
        == (7, 4, 8)
    # Spot checks against the public configs' class_num.
    assert VTAB1K_TASKS['sun397'].num_classes == 397
    assert VTAB1K_TASKS['smallnorb_azi'].num_classes == 18
    assert VTAB1K_TASKS['patch_camelyon'].num_classes == 2


@pytest.mark.parametrize('split', VTAB1K_SPLITS)
def test_every_split_builds_from_a_config_of_the_mmpretrain_scope(tiny_vtab, split):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(dict(type='mmsls.VTAB1k', data_root=tiny_vtab['data_root'],
                                  task='kitti', split=split, pipeline=PIPELINE))
    assert isinstance(dataset, VTAB1k)
    assert len(dataset) == tiny_vtab[split]
    assert dataset.CLASSES == ('0', '1', '2', '3')
    labels = dataset.get_gt_labels()
    assert labels.min() >= 0 and labels.max() < 4
    sample = dataset[len(dataset) - 1]
    image = sample['inputs']
    assert tuple(image.shape) == (3, 224, 224)
    assert image.float().std() > 5  # a real picture went through the pipeline
    assert int(sample['data_samples'].gt_label) == labels[-1]


def test_paths_are_relative_to_the_task_folder(tiny_vtab):
    dataset = VTAB1k(data_root=tiny_vtab['data_root'], task='kitti', split='test')
    info = dataset.get_data_info(0)
    assert info['img_path'].startswith(f"{tiny_vtab['data_root']}/kitti/")
    first_line = (np.loadtxt(f"{tiny_vtab['data_root']}/kitti/test.txt", dtype=str))[0]
    assert info['img_path'].endswith(first_line[0]) and info['gt_label'] == int(first_line[1])


def test_class_names_can_be_given(tiny_vtab):
    names = ('car', 'van', 'truck', 'tram')
    dataset = VTAB1k(data_root=tiny_vtab['data_root'], task='kitti', split='test', classes=names)
    assert dataset.CLASSES == names


def _write_list(root, task, text):
    (root / task).mkdir(parents=True, exist_ok=True)
    (root / task / 'test.txt').write_text(text)


def test_a_path_with_spaces_reads(tmp_path):
    _write_list(tmp_path, 'dtd', 'images/a b.jpg 46\n\n')
    dataset = VTAB1k(data_root=str(tmp_path), task='dtd', split='test')
    assert dataset.get_data_info(0)['img_path'].endswith('dtd/images/a b.jpg')
    assert dataset.get_data_info(0)['gt_label'] == 46


@pytest.mark.parametrize('kwargs, match', [
    (dict(task='cifar10'), 'unknown VTAB-1k task .cifar10.*smallnorb_ele'),
    (dict(task='cifar', split='train'), 'unknown VTAB-1k split .train.*train800val200'),
    (dict(task='cifar', ann_file='x.txt'), 'sets ann_file from task and split'),
    (dict(task='kitti', classes=('a', 'b')), 'kitti has 4 classes, got 2'),
])
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        VTAB1k(data_root=str(tmp_path), **kwargs)


def test_missing_list_file_names_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'<data_root>/svhn/test.txt.*one sub-folder'):
        VTAB1k(data_root=str(tmp_path), task='svhn', split='test')


@pytest.mark.parametrize('text, match', [
    ('a.jpg\n', r'test.txt:1: expected "relative/path label"'),
    ('a.jpg 1\nb.jpg one\n', r'test.txt:2: expected "relative/path label"'),
    ('a.jpg 4\n', r'test.txt:1: label 4 is outside \[0, 4\)'),
    ('a.jpg -1\n', r'label -1 is outside'),
    ('\n', 'lists no images'),
])
def test_bad_list_files_are_named_with_their_line(tmp_path, text, match):
    _write_list(tmp_path, 'kitti', text)
    with pytest.raises(ValueError, match=match):
        VTAB1k(data_root=str(tmp_path), task='kitti', split='test')
