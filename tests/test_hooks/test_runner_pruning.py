"""Pruning a Runner's model: the optimizer stops stepping removed parameters, DDP is rebuilt."""
import copy

import pytest
import torch

from mmsls.depth import prunable_units
from mmsls.hooks import prune_runner_model
from mmsls.runner import build_runner, load_run_config
from ..conftest import TINY_CONFIGS, run_tool


def tiny_runner(tmp_path, **options):
    cfg = load_run_config(str(TINY_CONFIGS['mmpretrain']), options, str(tmp_path / 'work'))
    return build_runner(cfg)


def assert_optimizer_holds_exactly_the_model(runner):
    model_params = {id(param) for param in runner.model.parameters()}
    optimizer = runner.optim_wrapper.optimizer
    in_groups = [id(param) for group in optimizer.param_groups for param in group['params']]
    assert sorted(in_groups) == sorted(model_params)
    assert {id(param) for param in optimizer.state} <= model_params


def test_pruning_hook_leaves_optimizer_and_schedulers_consistent(tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_data_dir)
    runner = tiny_runner(tmp_path, custom_hooks=[dict(type='mmsls.PruneDepthHook', depth=2)])
    runner.train()
    assert [unit.name for unit in prunable_units(runner.model)] == ['layers.0', 'layers.1']
    assert_optimizer_holds_exactly_the_model(runner)
    assert runner.optim_wrapper.optimizer.state, 'the kept parameters were trained'
    assert all(scheduler.optimizer is runner.optim_wrapper
               for scheduler in runner.param_schedulers)


def test_pruning_hook_with_a_selection_of_units_to_remove(tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_data_dir)
    runner = tiny_runner(tmp_path, custom_hooks=[dict(
        type='mmsls.PruneDepthHook', select=dict(type='UnitsSelection', remove=['layers.1', 3]))])
    runner.train()
    assert [unit.name for unit in prunable_units(runner.model)] == ['layers.0', 'layers.2']
    assert_optimizer_holds_exactly_the_model(runner)


def test_removed_parameters_stop_training_and_empty_groups_stay(tiny_data_dir, tmp_path, monkeypatch):
    """With paramwise options every parameter has its own group; groups of removed parameters stay
    (empty), so the schedulers' per-group values keep their positions."""
    monkeypatch.chdir(tiny_data_dir)
    runner = tiny_runner(tmp_path, **{'optim_wrapper.paramwise_cfg': dict(custom_keys={
        'layers.0': dict(lr_mult=0.5)}), 'param_scheduler': [dict(type='LinearLR', start_factor=0.5,
                                                                by_epoch=False, end=4)]})
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
    removed_layer = runner.model.backbone.layers[3]
    before = copy.deepcopy(removed_layer.state_dict())
    num_groups = len(runner.optim_wrapper.optimizer.param_groups)

    prune_runner_model(runner, [0, 1, 2])
    assert len(runner.optim_wrapper.optimizer.param_groups) == num_groups
    assert any(not group['params'] for group in runner.optim_wrapper.optimizer.param_groups)
    assert_optimizer_holds_exactly_the_model(runner)
    runner.train()
    for key, value in removed_layer.state_dict().items():
        assert torch.equal(value, before[key]), 'a removed parameter was still stepped'


def test_runner_with_ema_hook_is_refused_before_anything_is_pruned(tiny_data_dir, tmp_path,
                                                                   monkeypatch):
    # EMAHook swaps averaged and live weights by position: after pruning it would mix up layers.
    monkeypatch.chdir(tiny_data_dir)
    runner = tiny_runner(tmp_path, custom_hooks=[dict(type='mmsls.PruneDepthHook', depth=2),
                                                 dict(type='EMAHook')])
    with pytest.raises(ValueError, match='cannot run with EMAHook.*wrong layers'):
        runner.train()
    assert len(prunable_units(runner.model)) == 4


def test_optimizer_not_built_yet_is_left_to_be_built_from_pruned_model(tmp_path):
    runner = tiny_runner(tmp_path)
    assert isinstance(runner.optim_wrapper, dict)
    prune_runner_model(runner, [0, 1])
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    assert_optimizer_holds_exactly_the_model(runner)


def test_two_process_ddp_training_after_pruning(tiny_data_dir, tmp_path):
    """Two CPU ranks (gloo): a hook prunes after DDP wrapped the model. Without rebuilding the
    wrapper, DDP's reducer waits for gradients of removed layers and the second iteration fails."""
    config = tmp_path / 'config.py'
    config.write_text(f"_base_ = ['{TINY_CONFIGS['mmpretrain']}']\n"
                      "custom_hooks = [dict(type='mmsls.PruneDepthHook', depth=2)]\n"
                      "train_cfg = dict(max_iters=3)\n"
                      "default_hooks = dict(checkpoint=dict(interval=3))\n")
    proc = run_tool('dist_train.sh', config, 2, '--work-dir', tmp_path / 'work', cwd=tiny_data_dir)
    assert 'GPU number: 2' in proc.stdout + proc.stderr  # MMEngine's name for the world size
    saved = torch.load(tmp_path / 'work/iter_3.pth', weights_only=True)
    assert saved['meta']['mmsls_depth']['kept'] == ['layers.0', 'layers.1']
    assert sum(len(group['params']) for group in saved['optimizer']['param_groups']) == len(
        saved['state_dict'])
