"""Class-balanced seeded sampling."""
import random

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmsls.analysis.sampling import (ClassQuota, analysis_pipeline, balanced_counts,
                                     check_dense_sample, class_quota, seeded_random_state,
                                     select_balanced)
from ..conftest import TINY_CONFIGS


@pytest.mark.parametrize('sizes, num_samples, expected', [
    ([10, 10, 10], 9, [3, 3, 3]),
    ([2, 10, 10], 10, [2, 4, 4]),        # the small class gives all it has, the rest is shared
    ([10, 10, 10], 10, [4, 3, 3]),       # remainder: largest spare capacity, then lower id
    ([1, 5, 30], 20, [1, 5, 14]),
    ([3, 4], 100, [3, 4]),               # fewer than asked: everything
    ([0, 6, 6], 4, [0, 2, 2]),
])
def test_balanced_counts(sizes, num_samples, expected):
    counts = balanced_counts(np.array(sizes), num_samples)
    assert counts.tolist() == expected
    assert counts.sum() == min(num_samples, sum(sizes))


def test_select_balanced_is_seeded_balanced_and_a_subset():
    labels = np.random.default_rng(5).integers(0, 4, size=200)
    chosen = select_balanced(labels, 40, seed=3)
    assert len(chosen) == len(set(chosen.tolist())) == 40
    assert np.bincount(labels[chosen], minlength=4).tolist() == [10, 10, 10, 10]
    assert np.array_equal(chosen, select_balanced(labels, 40, seed=3))
    assert not np.array_equal(chosen, select_balanced(labels, 40, seed=4))
    assert np.array_equal(select_balanced(labels, 500, seed=0), np.arange(200))


def test_class_quota():
    quota = ClassQuota(num_classes=2, per_class=2)
    assert [quota.take(label) for label in [0, 0, 0, 1]] == [True, True, False, True]
    assert not quota.full
    assert quota.take(1) and quota.full and not quota.take(1)


def test_seeded_random_state_is_reproducible_and_restores_the_outer_stream():
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    expected_outer = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(11)
    draws = []
    for _ in range(2):
        with seeded_random_state(7):
            draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected_outer


def _pipeline_types(pipeline):
    return [step['type'] for step in pipeline]


def test_the_analysis_loads_unaugmented_with_annotations_before_the_geometry():
    cfg = Config.fromfile(TINY_CONFIGS['mmdet'])
    test_types = _pipeline_types(cfg.test_pipeline)
    # mmdet loads boxes after resizing (its metrics use the original size).
    assert test_types.index('LoadAnnotations') > test_types.index('Resize')
    pipeline = analysis_pipeline(cfg)
    assert _pipeline_types(pipeline) == ['LoadImageFromFile', 'LoadAnnotations', 'Resize',
                                         'PackDetInputs']
    assert not {'RandomFlip', 'RandomResize', 'RandomCrop'} & set(_pipeline_types(pipeline))
    assert _pipeline_types(cfg.test_pipeline) == test_types  # the config's list is not changed
    # A config may choose: the training pipeline (None: the dataset's own) or its transforms.
    assert analysis_pipeline(cfg, 'train') is None
    custom = [dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]
    assert analysis_pipeline(cfg, custom) == custom and analysis_pipeline(cfg, custom) is not custom
    with pytest.raises(ValueError, match="pipeline must be None, one of \\('test', 'train'\\)"):
        analysis_pipeline(cfg, 'val')


def test_the_analysis_pipeline_falls_back_to_the_val_dataloader_and_borrows_annotations():
    train = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True),
             dict(type='RandomFlip', prob=0.5), dict(type='PackSegInputs')]
    val = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 32)),
           dict(type='PackSegInputs')]
    cfg = Config(dict(train_dataloader=dict(dataset=dict(pipeline=train)),
                      val_dataloader=dict(dataset=dict(type='RepeatDataset',
                                                       dataset=dict(pipeline=val)))))
    pipeline = analysis_pipeline(cfg)
    assert _pipeline_types(pipeline) == ['LoadImageFromFile', 'LoadAnnotations', 'Resize',
                                         'PackSegInputs']
    assert pipeline[1]['reduce_zero_label'] is True
    with pytest.raises(ValueError, match="has none: define test_pipeline, or pass pipeline='train'"):
        analysis_pipeline(Config(dict(train_dataloader=dict(dataset=dict(pipeline=train)))))


def test_dense_quota_needs_two_samples_per_class_and_names_the_n_that_works():
    with pytest.raises(ValueError, match='num_samples=60 gives each of the 150 segmentation classes '
                       'a quota of 1 sample.*use num_samples >= 300'):
        class_quota(60, 150, 'segmentation')
    assert class_quota(300, 150, 'segmentation') == 2
    check_dense_sample(np.array([0, 0, 1, 1, 2]), 6, 3, 'detection')  # two usable classes
    with pytest.raises(ValueError, match='only 1 class.*raise max_images.*to at least 12'):
        check_dense_sample(np.array([0, 0, 1, 2]), 6, 3, 'detection')
