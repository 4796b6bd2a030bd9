"""DigitsDataset serves scikit-learn's bundled digits to mmpretrain, split and labelled per task."""
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from sklearn.datasets import load_digits

from mmsls.datasets import DigitsDataset
from mmsls.datasets.digits import split_indices

BUNDLED = load_digits()
GREY = np.round(BUNDLED.images * 255 / 16)


def _infos(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def test_split_is_stratified_disjoint_and_seeded():
    digits = BUNDLED.target
    split = split_indices(digits, test_fraction=0.25, seed=0)
    assert (len(split['train']), len(split['test'])) == (1347, 450)
    assert not set(split['train']) & set(split['test'])
    assert len(set(split['train']) | set(split['test'])) == len(digits)
    per_digit = np.bincount(digits[split['test']], minlength=10) / np.bincount(digits)
    assert np.all(np.abs(per_digit - 0.25) < 0.01)
    assert np.array_equal(split['test'], split_indices(digits, 0.25, seed=0)['test'])
    assert not np.array_equal(split['test'], split_indices(digits, 0.25, seed=1)['test'])


def test_digit_task_serves_the_bundled_images_as_uint8():
    train, test = DigitsDataset(split='train'), DigitsDataset(split='test')
    assert (len(train), len(test)) == (1347, 450)
    assert not {info['digits_index'] for info in _infos(train)} & \
        {info['digits_index'] for info in _infos(test)}
    assert train.metainfo['classes'] == tuple('0123456789')
    for info in _infos(test):
        index = info['digits_index']
        assert info['img'].shape == (8, 8, 3) and info['img'].dtype == np.uint8
        assert info['gt_label'] == info['digit'] == BUNDLED.target[index]
        assert np.array_equal(info['img'][..., 0], GREY[index])
        assert np.array_equal(info['img'][..., 0], info['img'][..., 2])


def test_parity_task_labels_the_same_images():
    digit, parity = DigitsDataset(split='test'), DigitsDataset(split='test', task='parity')
    assert parity.metainfo['classes'] == ('even', 'odd')
    for a, b in zip(_infos(digit), _infos(parity)):
        assert np.array_equal(a['img'], b['img']) and b['gt_label'] == a['digit'] % 2


def test_quadrant_task_draws_each_digit_where_its_label_says():
    dataset = DigitsDataset(split='train', task='quadrant')
    assert dataset.metainfo['classes'] == ('top left', 'top right', 'bottom left', 'bottom right')
    infos = _infos(dataset)
    for info in infos:
        canvas, (row, col) = info['img'][..., 0], divmod(info['gt_label'], 2)
        assert canvas.shape == (16, 16)
        assert np.array_equal(canvas[row * 8:row * 8 + 8, col * 8:col * 8 + 8],
                              GREY[info['digits_index']])
        assert canvas.sum() == GREY[info['digits_index']].sum()  # nothing outside its quadrant
    counts = np.bincount([info['gt_label'] for info in infos], minlength=4)
    assert counts.min() > 0.2 * len(infos)  # random quadrants, about a quarter each


def test_tasks_split_the_digits_alike_and_are_seeded():
    def indices(**kwargs):
        return [info['digits_index'] for info in _infos(DigitsDataset(split='test', **kwargs))]

    assert indices(task='digit') == indices(task='quadrant') == indices(task='parity')
    assert indices(task='digit', seed=1) != indices(task='digit')
    labels = [DigitsDataset(split='test', task='quadrant', seed=seed).get_gt_labels()
              for seed in (0, 0, 1)]
    assert np.array_equal(labels[0], labels[1])
    assert not np.array_equal(labels[0], labels[2])


def test_builds_from_a_config_with_an_mmpretrain_pipeline():
    init_default_scope('mmpretrain')
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(dict(
        type='mmsls.DigitsDataset', split='test', task='quadrant',
        pipeline=[dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]))
    item = dataset[3]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    assert int(item['data_samples'].gt_label) == dataset.get_data_info(3)['gt_label']


@pytest.mark.parametrize('kwargs,message', [
    (dict(split='val'), "'train' or 'test'"),
    (dict(task='rotation'), "choose one of ['digit', 'parity', 'quadrant']"),
    (dict(test_fraction=1.0), 'test_fraction must be in (0, 1)'),
    (dict(data_root='data/digits'), 'takes no data_root'),
    (dict(task='quadrant', metainfo=dict(classes=('a', 'b'))), 'drop classes from metainfo'),
])
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError) as error:
        DigitsDataset(**kwargs)
    assert message in str(error.value)
