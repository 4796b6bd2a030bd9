"""Bypass costs measured on a real classifier: equal to the pruned model's loss, and the search."""
import copy
import random

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from mmsls.analysis.block_bypass import (BypassEvaluator, sample_training_batches,
                                         select_blocks_by_bypass, unit_flops)
from mmsls.criteria.block_bypass import single_bypass_costs
from mmsls.depth import prunable_units, prune_depth
from ..conftest import TINY_CONFIGS
from ..test_depth.conftest import build, vit_classifier_cfg

LAYERS = ['layers.0', 'layers.1', 'layers.2', 'layers.3']


def random_batches(num_batches=2, batch_size=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [dict(inputs=[torch.randint(0, 256, (3, 32, 32), generator=generator, dtype=torch.uint8)
                         for _ in range(batch_size)],
                 data_samples=[DataSample().set_gt_label(int(label))
                               for label in torch.randint(0, 5, (batch_size, ), generator=generator)])
            for _ in range(num_batches)]


@pytest.fixture
def classifier():
    return build('mmpretrain', vit_classifier_cfg())


def test_cost_is_the_loss_of_the_pruned_model(classifier):
    batches = random_batches()
    evaluator = BypassEvaluator(classifier, batches)
    pruned = copy.deepcopy(classifier)
    prune_depth(pruned, [0, 2])
    for model, bypassed in ((classifier, frozenset()), (pruned, frozenset({'layers.1', 'layers.3'}))):
        with torch.no_grad():
            losses = [model.loss(**model.data_preprocessor(batch, False))['loss'].item()
                      for batch in batches]
        assert evaluator(bypassed) == pytest.approx(np.mean(losses), rel=1e-6)
    assert evaluator.evaluations == 2


def test_error_metric_and_restored_mode(classifier):
    batches = random_batches()
    classifier.train()
    error = BypassEvaluator(classifier, batches, metric='error')(frozenset({'layers.0'}))
    assert classifier.training
    with torch.no_grad():
        classifier.eval()
        wrong = []
        reduced = copy.deepcopy(classifier)
        prune_depth(reduced, [1, 2, 3])
        for batch in batches:
            for sample in reduced(**reduced.data_preprocessor(batch, False), mode='predict'):
                wrong.append(int(sample.pred_label[0] != sample.gt_label[0]))
    assert error == pytest.approx(np.mean(wrong))
    with pytest.raises(ValueError, match="metric must be one of"):
        BypassEvaluator(classifier, batches, metric='auc')


def test_search_picks_the_cheapest_block(classifier):
    batches = random_batches()
    singles = single_bypass_costs(BypassEvaluator(classifier, batches), LAYERS)
    selection = select_blocks_by_bypass(classifier, batches, num_remove=1)
    assert selection.removed == (min(singles, key=singles.get), )


def test_flop_target(classifier):
    flops = unit_flops(classifier, torch.randn(1, 3, 32, 32))
    assert len({flops[name] for name in LAYERS}) == 1
    assert 0.8 * flops['total'] < sum(flops[name] for name in LAYERS) < flops['total']
    selection = select_blocks_by_bypass(classifier, random_batches(1), flops_ratio=0.4)
    assert len(selection.removed) == 2 and selection.removed_flops >= 0.4 * flops['total']
    with pytest.raises(ValueError, match=r'flops_ratio is the share .* in \(0, 1\)'):
        select_blocks_by_bypass(classifier, random_batches(1), flops_ratio=1.5)
    assert [unit.name for unit in prunable_units(classifier)] == LAYERS


def test_training_sample_is_seeded_and_leaves_the_random_stream(tiny_data_dir, monkeypatch):
    monkeypatch.chdir(tiny_data_dir)
    cfg = Config.fromfile(TINY_CONFIGS['mmpretrain'])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataloader = Runner.build_dataloader(cfg.train_dataloader)
    random.seed(5)
    expected = random.random()
    random.seed(5)
    first = sample_training_batches(dataloader, num_samples=11, seed=3)
    assert random.random() == expected
    again = sample_training_batches(dataloader, num_samples=11, seed=3)
    assert [len(batch['inputs']) for batch in first] == [8, 3]
    for one, other in zip(first, again):
        assert all(torch.equal(a, b) for a, b in zip(one['inputs'], other['inputs']))
    other_seed = sample_training_batches(dataloader, num_samples=11, seed=4)
    assert not all(torch.equal(a, b) for a, b in zip(first[0]['inputs'], other_seed[0]['inputs']))


def mobilenet_classifier():
    return build('mmpretrain', dict(
        type='ImageClassifier', backbone=dict(type='MobileNetV2', widen_factor=0.25, out_indices=(7, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=1280)))


def test_linear_cost_is_the_loss_of_the_calibrated_linear_form(classifier):
    from mmsls.depth import calibrate_linearized, linearized
    batches = random_batches()
    evaluator = BypassEvaluator(classifier, batches, replace='linear')
    data = [classifier.data_preprocessor(batch, False) for batch in batches]
    with torch.no_grad(), linearized(classifier, ['layers.1'], 1.0) as blocks:
        calibrate_linearized(classifier, blocks, [item['inputs'] for item in data])
        losses = [classifier.loss(**item)['loss'].item() for item in data]
    assert evaluator(frozenset({'layers.1'})) == pytest.approx(np.mean(losses), rel=1e-6)
    # The model is back as it was: its own keys only.
    assert not any('.bn.' in key for key in classifier.state_dict())
    assert evaluator(frozenset({'layers.1'})) != pytest.approx(
        BypassEvaluator(classifier, batches)(frozenset({'layers.1'})), rel=1e-3)


def test_linear_search_skips_blocks_whose_merge_costs_more():
    model = mobilenet_classifier()
    batches = random_batches(1)
    from mmsls.analysis.block_bypass import merge_savings
    inputs = model.data_preprocessor(batches[0], False)['inputs'][:1]
    saved = merge_savings(model, inputs, ['layer1.0', 'layer2.0', 'layer3.1'])
    assert saved['layer1.0'] < 0 < saved['layer2.0'] and saved['layer3.1'] > 0
    selection = select_blocks_by_bypass(model, batches, num_remove=2, replace='linear')
    assert 'layer1.0' not in selection.removed and 'layer1.0' not in selection.step_costs[0]
    # Stride-2, channel-changing blocks are candidates for merging (never for removal).
    assert 'layer2.0' in selection.step_costs[0]
    assert 'layer2.0' not in select_blocks_by_bypass(model, batches, num_remove=1).step_costs[0]
    ratio = select_blocks_by_bypass(model, batches, flops_ratio=0.05, replace='linear')
    assert ratio.removed_flops >= 0.05 * unit_flops(model, inputs)['total']
    with pytest.raises(ValueError, match="replace must be one of"):
        BypassEvaluator(model, batches, replace='zero')
