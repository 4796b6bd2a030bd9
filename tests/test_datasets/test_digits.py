"""DigitsDataset serves scikit-learn's bundled digits to mmpretrain, split and labelled per task."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from sklearn.datasets import load_digits

from mmsls.datasets import DigitsDataset
from mmsls.datasets.digits import split_indices


def _images_and_digits(dataset):
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    return np.stack([info['img'] for info in infos]), np.array([info['digit'] for info in infos])


def test_split_is_stratified_disjoint_and_seeded():
    digits = load_digits().target
    split = split_indices(digits, test_fraction=0.25, seed=0)
    assert (len(split['train']), len(split['test'])) == (1347, 450)
    assert not set(split['train']) & set(split['test'])
    assert len(set(split['train']) | set(split['test'])) == len(digits)
    per_digit = np.bincount(digits[split['test']], minlength=10) / np.bincount(digits)
    assert np.all(np.abs(per_digit - 0.25) < 0.01)
    again = split_indices(digits, test_fraction=0.25, seed=0)
    other = split_indices(digits, test_fraction=0.25, seed=1)
    assert np.array_equal(split['test'], again['test'])
    assert not np.array_equal(split['test'], other['test'])


def test_images_are_the_bundled_digits_scaled_to_uint8():
    dataset = DigitsDataset(split='test')
    images, digits = _images_and_digits(dataset)
    bunch = load_digits()
    test = split_indices(bunch.target, 0.25, 0)['test']
    assert images.shape == (450, 8, 8, 3) and images.dtype == np.uint8
    assert np.array_equal(digits, bunch.target[test])
    assert np.array_equal(images[..., 0], np.round(bunch.images[test] * 255 / 16))
    assert np.array_equal(images[..., 0], images[..., 2])
    assert images.max() == 255


@pytest.mark.parametrize('task,classes,label_of', [
    ('digit', tuple('0123456789'), lambda digit: digit),
    ('parity', ('even', 'odd'), lambda digit: digit % 2),
])
def test_task_labels(task, classes, label_of):
    dataset = DigitsDataset(split='train', task=task)
    assert dataset.metainfo['classes'] == classes
    _, digits = _images_and_digits(dataset)
    assert np.array_equal(dataset.get_gt_labels(), label_of(digits))


def test_tasks_share_the_split():
    by_task = [_images_and_digits(DigitsDataset(split='train', task=task))
               for task in ('digit', 'parity')]
    assert np.array_equal(by_task[0][0], by_task[1][0])


def test_builds_from_a_config_with_an_mmpretrain_pipeline():
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(dict(
        type='mmsls.DigitsDataset', split='test', task='parity',
        pipeline=[dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]))
    item = dataset[3]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    assert int(item['data_samples'].gt_label) == dataset.get_data_info(3)['digit'] % 2


@pytest.mark.parametrize('kwargs,message', [
    (dict(split='val'), "'train' or 'test'"),
    (dict(task='rotation'), "choose one of ['digit', 'parity']"),
    (dict(test_fraction=1.0), 'test_fraction must be in (0, 1)'),
    (dict(data_root='data/digits'), 'takes no data_root'),
    (dict(task='parity', metainfo=dict(classes=('a', 'b'))), 'drop classes from metainfo'),
])
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError) as error:
        DigitsDataset(**kwargs)
    assert message in str(error.value)
