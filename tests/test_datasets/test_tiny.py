"""The tiny datasets are read by the real OpenMMLab dataset classes."""
import numpy as np
from mmengine.registry import init_default_scope
from PIL import Image

from mmsls.datasets import write_tiny_ade20k, write_tiny_classification, write_tiny_coco


def test_classification_set_reads_with_custom_dataset(tmp_path):
    from mmpretrain.datasets import CustomDataset
    info = write_tiny_classification(tmp_path / 'cls', num_classes=4, train_per_class=3,
                                     test_per_class=2, size=24)
    assert (info['train'], info['test']) == (12, 8)
    dataset = CustomDataset(data_root=info['data_root'], ann_file='meta/train.txt',
                            data_prefix='train', metainfo=dict(classes=info['classes']))
    assert len(dataset) == 12
    assert sorted(set(dataset.get_gt_labels().tolist())) == [0, 1, 2, 3]
    img = np.asarray(Image.open(dataset.get_data_info(0)['img_path']))
    assert img.shape == (24, 24, 3) and img.std() > 10  # shapes on a background, not constant


def test_classes_differ_in_colour(tmp_path):
    info = write_tiny_classification(tmp_path / 'cls', num_classes=2, train_per_class=4,
                                     test_per_class=1, size=32)
    root = tmp_path / 'cls/train'
    means = [np.mean([np.asarray(Image.open(p)).reshape(-1, 3).max(0)
                      for p in (root / name).glob('*.png')], axis=0) for name in info['classes']]
    assert np.abs(means[0] - means[1]).max() > 50


def test_coco_set_reads_with_coco_dataset(tmp_path):
    init_default_scope('mmdet')
    from mmdet.datasets import CocoDataset
    info = write_tiny_coco(tmp_path / 'coco', num_classes=3, num_train=5, num_val=2)
    dataset = CocoDataset(data_root=info['data_root'], ann_file='annotations/instances_train.json',
                          data_prefix=dict(img='train/'), metainfo=dict(classes=info['classes']),
                          pipeline=[])
    assert len(dataset) == 5
    instances = dataset.get_data_info(0)['instances']
    assert instances and all(0 <= inst['bbox_label'] < 3 for inst in instances)
    x0, y0, x1, y1 = instances[0]['bbox']
    assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64


def test_ade20k_set_reads_with_ade20k_dataset(tmp_path):
    init_default_scope('mmseg')
    from mmseg.datasets import ADE20KDataset
    info = write_tiny_ade20k(tmp_path / 'ade', num_classes=4, num_train=3, num_val=2)
    assert info['classes'] == ('wall', 'building', 'sky', 'floor')
    dataset = ADE20KDataset(
        data_root=info['data_root'], metainfo=dict(classes=info['classes']),
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True)])
    assert len(dataset) == 3
    seg = dataset[0]['gt_seg_map']
    values = set(np.unique(seg).tolist())
    assert 0 in values and 255 in values  # background class and the ignored border
    assert values <= {0, 1, 2, 3, 255} and len(values - {0, 255}) >= 1
