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
