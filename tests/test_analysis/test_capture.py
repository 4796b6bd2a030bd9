"""One-pass capture of per-unit features over a class-balanced sample of a real training set."""
import math
import random

import numpy as np
import pytest
import torch

from mmsls.analysis import analysis_pipeline, capture_layer_features
from mmsls.depth import find_backbone, prunable_units
from .conftest import tiny_model_and_dataset


def count_forward_passes(model):
    calls = []
    _, backbone = find_backbone(model)
    return calls, backbone.register_forward_hook(lambda *args: calls.append(1))


def test_classification_one_forward_pass_per_batch(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmpretrain', tiny_data_dir, adapted=True)
    calls, handle = count_forward_passes(model)
    random.seed(3)
    expected_next_draw = random.random()
    random.seed(3)
    captured = capture_layer_features(model, dataset, num_samples=9, batch_size=4, progress=False)
    handle.remove()
    # 9 images in batches of 4: three passes of the backbone for all four layers together.
    assert len(calls) == 3
    assert captured.task == 'classification' and captured.num_images == 9
    assert captured.unit_names == ['layers.0', 'layers.1', 'layers.2', 'layers.3']
    assert [features.shape for features in captured.features] == [(9, 64)] * 4
    assert np.bincount(captured.labels).tolist() == [3, 3, 3]
    # Labels are those of the images, read from the training set.
    infos = [dataset.get_data_info(int(index)) for index in captured.images]
    assert captured.labels.tolist() == [int(info['gt_label']) for info in infos]
    assert model.training and all(module.training for module in model.modules())
    assert random.random() == expected_next_draw  # the caller's random stream is untouched


def test_classification_takes_every_image_of_a_small_set_and_is_seeded(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmpretrain', tiny_data_dir)
    first = capture_layer_features(model, dataset, num_samples=1000, progress=False)
    again = capture_layer_features(model, dataset, num_samples=1000, progress=False)
    other_seed = capture_layer_features(model, dataset, num_samples=1000, seed=1, progress=False)
    assert sorted(first.images.tolist()) == list(range(len(dataset))) == list(range(24))
    for a, b in zip(first.features, again.features):
        np.testing.assert_array_equal(a, b)
    # The training pipeline flips at random: another seed flips other images.
    assert any(not np.array_equal(a, b) for a, b in zip(first.features, other_seed.features))


def test_detection_samples_are_boxes_up_to_a_class_quota(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmdet', tiny_data_dir, adapted=True)
    captured = capture_layer_features(model, dataset, num_samples=6, batch_size=3, progress=False)
    assert captured.task == 'detection'
    assert [features.shape[1] for features in captured.features] == [32, 64, 128, 128, 256]
    per_class = np.bincount(captured.labels, minlength=3)
    # Every box's class, per image, is one of that image's ground-truth categories.
    for image, label in zip(captured.images, captured.labels):
        instances = dataset.get_data_info(int(image))['instances']
        assert label in [instance['bbox_label'] for instance in instances]
    available = np.bincount([instance['bbox_label'] for index in range(len(dataset))
                             for instance in dataset.get_data_info(index)['instances']],
                            minlength=3)
    assert per_class.tolist() == np.minimum(available, 2).tolist()
    assert all(np.isfinite(features).all() for features in captured.features)


def test_segmentation_samples_are_tokens_capped_per_class_and_image(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmseg', tiny_data_dir, adapted=True)
    captured = capture_layer_features(model, dataset, num_samples=400, batch_size=4,
                                      tokens_per_class_per_image=2, progress=False)
    assert captured.task == 'segmentation'
    assert captured.num_images == len(dataset) == 8  # quotas of 100 cannot fill: every image
    assert [features.shape[1] for features in captured.features] == [64] * 6
    _, counts = np.unique(np.stack([captured.images, captured.labels]), axis=1,
                              return_counts=True)
    assert counts.max() <= 2
    assert set(captured.labels.tolist()) == {0, 1, 2, 3}


def test_dense_quota_stops_the_visit_early(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmseg', tiny_data_dir)
    captured = capture_layer_features(model, dataset, num_samples=8, batch_size=1,
                                      tokens_per_class_per_image=1, progress=False)
    assert np.bincount(captured.labels, minlength=4).tolist() == [2, 2, 2, 2]
    assert captured.num_images < len(dataset)


def test_the_model_runs_in_eval_mode_without_gradients(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmpretrain', tiny_data_dir, adapted=True)
    seen = []

    def record(module, args, output):
        seen.append((module.training, torch.is_grad_enabled()))

    handle = prunable_units(model)[0].module.register_forward_hook(record)
    capture_layer_features(model, dataset, num_samples=3, progress=False)
    handle.remove()
    assert seen == [(False, False)]


def test_annotations_must_be_loaded(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmseg', tiny_data_dir)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    with pytest.raises(ValueError, match='gt_sem_seg.*LoadAnnotations'):
        capture_layer_features(model, dataset, num_samples=8, pipeline=pipeline, progress=False)


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_samples=0), 'num_samples must be a positive int'),
    (dict(batch_size=2.5), 'batch_size must be a positive int'),
    (dict(task='depth'), "task must be 'auto' or one of"),
])
def test_bad_arguments(tiny_data_dir, kwargs, message):
    model, dataset, _ = tiny_model_and_dataset('mmpretrain', tiny_data_dir)
    with pytest.raises(ValueError, match=message):
        capture_layer_features(model, dataset, **{'num_samples': 4, **kwargs})


def test_quota_rounds_up_per_class(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmdet', tiny_data_dir)
    captured = capture_layer_features(model, dataset, num_samples=4, progress=False)
    assert np.bincount(captured.labels, minlength=3).max() <= math.ceil(4 / 3)


def test_detection_with_the_default_unaugmented_pipeline_keeps_boxes_on_the_image(tiny_data_dir):
    # mmdet's test pipeline loads boxes after resizing; the analysis pipeline loads them first, so
    # they are resized with the image (here 64 -> 96 px: a box at the original scale would cover
    # other tokens). Captured with the boxes scaled by hand, the features are the same.
    model, dataset, cfg = tiny_model_and_dataset('mmdet', tiny_data_dir, adapted=True)
    test_pipeline = [dict(step, scale=(96, 96)) if step['type'] == 'Resize' else step
                     for step in cfg.test_pipeline]
    cfg.test_pipeline = test_pipeline
    captured = capture_layer_features(model, dataset, num_samples=6, batch_size=3,
                                      pipeline=analysis_pipeline(cfg), progress=False)
    by_hand = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
               dict(type='Resize', scale=(96, 96), keep_ratio=True), dict(type='PackDetInputs')]
    expected = capture_layer_features(model, dataset, num_samples=6, batch_size=3,
                                      pipeline=by_hand, progress=False)
    assert captured.labels.tolist() == expected.labels.tolist()
    assert all(np.array_equal(a, b) for a, b in zip(captured.features, expected.features))


def test_a_dense_sample_too_small_for_the_silhouette_names_the_n_that_works(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmseg', tiny_data_dir)
    with pytest.raises(ValueError, match='a quota of 1 sample.*use num_samples >= 8'):
        capture_layer_features(model, dataset, num_samples=4, progress=False)
