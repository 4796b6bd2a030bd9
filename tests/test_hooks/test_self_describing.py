"""Checkpoints of the pruning hooks describe their structure by themselves (issue 12), and records read
back from a checkpoint are checked (issue 16): runs built as an OpenMMLab ``train.py`` builds them,
``Runner.from_cfg`` with ``custom_imports=dict(imports=['mmsls'])``, without mmsls's tools and so
without DepthStructureHook."""
import math
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmsls.depth import DEPTH_RECORD_KEY, apply_depth_structure, prunable_units
from mmsls.hooks import DepthStructureHook
from ..conftest import TINY_CONFIGS

HOOKS = {
    'prune': dict(type='PruneDepthHook', depth=2),
    'sls': dict(type='SLSHook', keep=[0, 2]),
    'updp': dict(type='ProgressiveDepthHook', blocks=['layers.1', 'layers.3'], span=1),
}
KEPT = {'prune': ['layers.0', 'layers.1'], 'sls': ['layers.0', 'layers.2'],
        'updp': ['layers.0', 'layers.2']}


def plain_runner(work_dir, hook: dict, **options) -> Runner:
    """The Runner an OpenMMLab ``train.py`` builds from the tiny ViT config plus ``hook``."""
    cfg = Config.fromfile(TINY_CONFIGS['mmpretrain'])
    assert cfg.custom_imports == dict(imports=['mmsls'], allow_failed_imports=False)
    cfg.merge_from_dict(dict(work_dir=str(work_dir), custom_hooks=[hook],
                             experiment_name=f'plain_{uuid.uuid4().hex[:8]}', **options))
    runner = Runner.from_cfg(cfg)
    assert not any(isinstance(registered, DepthStructureHook) for registered in runner.hooks)
    return runner


@pytest.fixture(scope='module')
def trained(tiny_data_dir, tmp_path_factory):
    """``trained(name)``: (work dir, iter_2.pth) of a 2-iteration plain run with HOOKS[name]."""
    runs = {}

    def train(name):
        if name not in runs:
            work_dir = tmp_path_factory.mktemp(f'plain_{name}')
            runner = plain_runner(work_dir, HOOKS[name])
            runner.train()
            runs[name] = (work_dir, work_dir / 'iter_2.pth', runner)
        return runs[name]

    return train


@pytest.fixture
def in_tiny_data(tiny_data_dir, monkeypatch):
    monkeypatch.chdir(tiny_data_dir)
    return tiny_data_dir


@pytest.mark.parametrize('name', sorted(HOOKS))
def test_checkpoint_carries_the_record_and_reapplies_to_equal_outputs(in_tiny_data, trained, name):
    _, checkpoint, runner = trained(name)
    saved = torch.load(checkpoint, weights_only=True)
    record = saved['meta'][DEPTH_RECORD_KEY]
    assert record == dict(units=[f'layers.{index}' for index in range(4)], kept=KEPT[name])

    # What mmsls's loader does: the record applied to a model built from the original config,
    # then a strict load.
    fresh = runner.build_model(Config.fromfile(TINY_CONFIGS['mmpretrain']).model)
    assert len(prunable_units(fresh)) == 4
    apply_depth_structure(fresh, record, saved['state_dict'])
    fresh.load_state_dict(saved['state_dict'], strict=True)
    trained_model = runner.model
    fresh.eval()
    trained_model.eval()
    torch.manual_seed(1)
    images = torch.randn(2, 3, 32, 32) + 0.5
    with torch.no_grad():
        expected = trained_model(images, mode='tensor')
        got = fresh(images, mode='tensor')
    assert expected.abs().min() > 0
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_plain_runner_resumes_a_pruned_checkpoint(in_tiny_data, trained, tmp_path):
    """Resume through a plain Runner: the hook re-applies the structure before the weights and the
    optimizer state load, so nothing is missing and the optimizer continues."""
    _, checkpoint, _ = trained('prune')
    runner = plain_runner(tmp_path, HOOKS['prune'], resume=True, load_from=str(checkpoint),
                          **{'train_cfg.max_iters': 3, 'default_hooks.checkpoint.interval': 3})
    runner.train()
    assert [unit.name for unit in prunable_units(runner.model)] == KEPT['prune']
    resumed = torch.load(tmp_path / 'iter_3.pth', weights_only=True)
    assert resumed['meta'][DEPTH_RECORD_KEY]['kept'] == KEPT['prune']
    steps = {float(state['step']) for state in resumed['optimizer']['state'].values()}
    assert steps == {3.0}, 'the optimizer state of the pruned model was resumed'
    assert set(resumed['state_dict']) == set(torch.load(checkpoint, weights_only=True)['state_dict'])


@pytest.fixture(scope='module')
def loading_runner(tmp_path_factory):
    """``loading_runner(hook)``: one plain Runner per hook config that test loads go through (a
    refused load stops before the weights, and re-applying the same structure again is a no-op)."""
    runners = {}

    def make(hook):
        key = repr(hook)
        if key not in runners:
            runners[key] = plain_runner(tmp_path_factory.mktemp('loading'), hook)
        return runners[key]

    return make


def tampered(checkpoint, tmp_path, key, value):
    saved = torch.load(checkpoint, weights_only=True)
    saved['meta'][key] = value
    path = tmp_path / 'tampered.pth'
    torch.save(saved, path)
    return str(path)


@pytest.mark.parametrize('change, message', [
    (dict(kept_units='layers.0'), '"units" and "kept_units" must be non-empty lists'),
    (dict(kept_units=['layers.0', 'layers.7']), 'must list distinct units out of "units"'),
    (dict(units=['layers.0', 'layers.2']), 'it was made on a backbone with units'),
    (dict(start_iter='0'), '"start_iter" must be an int >= 0'),
    (dict(kept_depth=None), '"kept_depth" an int >= 1'),
    (dict(iterative_interval=0), '"iterative_interval" must be None or an int >= 1'),
    (None, 'it is not a dict'),
])
def test_tampered_sls_record_is_a_clear_error(in_tiny_data, trained, loading_runner, tmp_path, change,
                                              message):
    _, checkpoint, _ = trained('sls')
    record = torch.load(checkpoint, weights_only=True)['meta']['mmsls_sls']
    assert record['kept_units'] == KEPT['sls'] and record['source'] == 'keep'
    path = tampered(checkpoint, tmp_path, 'mmsls_sls', ['x'] if change is None else {**record,
                                                                                     **change})
    runner = loading_runner(HOOKS['sls'])
    with pytest.raises(ValueError, match=r"the checkpoint's SLS decision \(meta\['mmsls_sls'\]\) is "
                                         f'not valid: .*{message}'):
        runner.load_checkpoint(path)


@pytest.mark.parametrize('record, message', [
    (dict(blocks=['layers.1'], blend=7.0, removed=False), r'"blend" must be a number in \[0, 1\]'),
    (dict(blocks=['layers.1'], blend=math.nan, removed=False), r'"blend" must be a number in'),
    (dict(blocks=['layers.1'], blend=-0.5, removed=False), r'"blend" must be a number in'),
    (dict(blocks=['layers.1'], blend='0.5', removed=False), r'"blend" must be a number in'),
    (dict(blocks='layers.1', blend=0.5, removed=False), '"blocks" must be a non-empty list'),
    (dict(blocks=['layers.9'], blend=0.5, removed=False), '"blocks" names units this model'),
    (dict(blocks=['layers.1'], blend=0.5, removed='no'), '"removed" must be true or false'),
    (dict(blocks=['layers.1']), '"removed" must be true or false'),
    (dict(blocks=['layers.2'], blend=0.5, removed=True), 'removed blocks have blend 1'),
    (dict(blocks=['layers.1'], blend=1.0, removed=True), 'removed blocks have blend 1 and are '
                                                         'absent'),
    (dict(blocks=['layers.2'], blend=0.5, removed=False), 'blocks still fading must be present'),
])
def test_tampered_fade_record_is_a_clear_error(in_tiny_data, trained, loading_runner, tmp_path, record,
                                               message):
    _, checkpoint, _ = trained('prune')  # keeps layers.0 and layers.1
    path = tampered(checkpoint, tmp_path, 'mmsls_progressive_depth', record)
    runner = loading_runner(dict(type='ProgressiveDepthHook', depth=2, span=1))
    with pytest.raises(ValueError, match=r"the checkpoint's fade record "
                                         fr"\(meta\['mmsls_progressive_depth'\]\) is not valid: "
                                         f'.*{message}'):
        runner.load_checkpoint(path)


def test_tampered_depth_record_is_a_clear_error(in_tiny_data, trained, tmp_path):
    _, checkpoint, _ = trained('prune')
    path = tampered(checkpoint, tmp_path, DEPTH_RECORD_KEY, dict(units=['layers.0'], kept=7))
    runner = plain_runner(tmp_path / 'work', HOOKS['prune'])
    with pytest.raises(ValueError, match='a depth record is a dict with lists of unit names'):
        runner.load_checkpoint(path)
