"""SLSHook: analyse a PETL-trained model, prune it, re-train; in-process options and end to end."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmsls.adapters import named_adapters
from mmsls.analysis import analysis_pipeline
from mmsls.criteria import depth_from_scores
from mmsls.depth import prunable_units
from mmsls.hooks import SLSHook
from mmsls.runner import build_runner, load_run_config
from ..conftest import TINY_CONFIGS, run_tool

ADAPTED_BACKBONE = ("model = dict(backbone=dict(_delete_=True, type='mmsls.AdaptedBackbone', "
                    "backbone=_base_.model.backbone, "
                    "adapter=dict(type='RepAdapter', hidden_dims=8, scale=1.0)))\n")


def petl_config(tmp_path: Path, scope: str) -> Path:
    """The tiny config of ``scope`` with RepAdapters in a frozen backbone (stage 1 of SLS)."""
    path = tmp_path / f'petl_{scope}.py'
    path.write_text(f"_base_ = ['{TINY_CONFIGS[scope]}']\n{ADAPTED_BACKBONE}"
                    # A larger step than the default, so that training moves the adapters visibly.
                    "optim_wrapper = dict(optimizer=dict(lr=1e-2))\n")
    return path


def sls_config(tmp_path: Path, petl: Path, checkpoint: Path, name: str, **hook) -> Path:
    """Stage 2: the PETL config, ``load_from`` its checkpoint, with SLSHook(**hook)."""
    path = tmp_path / f'{name}.py'
    path.write_text(f"_base_ = ['{petl}']\nload_from = '{checkpoint}'\n"
                    f"custom_hooks = [dict(type='mmsls.SLSHook', **{hook!r})]\n")
    return path


class StructureRecorder(Hook):
    """Records the unit names after every training iteration (after SLSHook's own work)."""

    priority = 'LOW'

    def __init__(self):
        self.after_iter = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.after_iter.append([unit.name for unit in prunable_units(runner.model)])


class AdapterRecorder(Hook):
    """Copies every adapter's (up, down) weights at ``before_train``, after SLSHook's."""

    priority = 'LOW'

    def before_train(self, runner):
        self.before_train = [(adapter.up.weight.detach().clone(),
                              adapter.down.weight.detach().clone())
                             for _, adapter in named_adapters(runner.model)]


def runner_of(config: Path, work_dir: Path, name: str, recorder=None, **options):
    """A Runner of ``config`` as tools/train.py builds it, with extra config ``options``."""
    cfg = load_run_config(str(config), options, str(work_dir))
    cfg.experiment_name = name  # one logger per Runner of this process
    runner = build_runner(cfg)
    if recorder is not None:
        runner.register_hook(recorder)
    return runner


@pytest.fixture(scope='module')
def petl_checkpoints(tiny_data_dir, tmp_path_factory):
    """Stage 1 (PETL training through tools/train.py) of a scope, run once: config, checkpoint."""
    base = tmp_path_factory.mktemp('petl')
    made = {}

    def make(scope):
        if scope not in made:
            config = petl_config(base, scope)
            run_tool('train.py', config, '--work-dir', base / scope, cwd=tiny_data_dir)
            made[scope] = (config, base / scope / 'iter_2.pth')
        return made[scope]

    return make


# In-process: the hook's options on the tiny ViT classifier.

def test_keep_depth_prunes_without_analysis(tiny_data_dir, tmp_path, monkeypatch, petl_checkpoints):
    monkeypatch.chdir(tiny_data_dir)
    petl, checkpoint = petl_checkpoints('mmpretrain')
    config = sls_config(tmp_path, petl, checkpoint, 'keep', keep=2)
    recorder = StructureRecorder()
    runner_of(config, tmp_path / 'work', 'keep', recorder, **{'train_cfg.max_iters': 1}).train()
    assert recorder.after_iter == [['layers.0', 'layers.1']]
    assert not (tmp_path / 'work/sls_scores.json').exists()


def test_keep_positions(tiny_data_dir, tmp_path, monkeypatch, petl_checkpoints):
    monkeypatch.chdir(tiny_data_dir)
    petl, checkpoint = petl_checkpoints('mmpretrain')
    config = sls_config(tmp_path, petl, checkpoint, 'positions', keep=[3, 0])
    recorder = StructureRecorder()
    runner_of(config, tmp_path / 'work', 'positions', recorder,
              **{'train_cfg.max_iters': 1}).train()
    assert recorder.after_iter == [['layers.0', 'layers.3']]


def test_dry_run_reports_and_prunes_nothing(tiny_data_dir, tmp_path, monkeypatch, petl_checkpoints):
    monkeypatch.chdir(tiny_data_dir)
    petl, checkpoint = petl_checkpoints('mmpretrain')
    config = sls_config(tmp_path, petl, checkpoint, 'dry', dry_run=True, num_samples=24)
    recorder = StructureRecorder()
    runner_of(config, tmp_path / 'work', 'dry', recorder, **{'train_cfg.max_iters': 1}).train()
    assert recorder.after_iter == [[f'layers.{index}' for index in range(4)]]
    record = json.loads((tmp_path / 'work/sls_scores.json').read_text())
    assert record['pruned'] is False and len(record['scores']) == 4
    assert (tmp_path / 'work/sls_scores.png').is_file()


def test_iterative_removes_the_top_unit_every_interval_and_resumes_on_schedule(
        tiny_data_dir, tmp_path, monkeypatch, petl_checkpoints):
    monkeypatch.chdir(tiny_data_dir)
    petl, checkpoint = petl_checkpoints('mmpretrain')
    config = sls_config(tmp_path, petl, checkpoint, 'iterative', keep=1, iterative=True,
                        iterative_interval=2)
    layers = [f'layers.{index}' for index in range(4)]
    recorder = StructureRecorder()
    runner_of(config, tmp_path / 'work', 'iterative', recorder, **{
        'train_cfg.max_iters': 3, 'default_hooks.checkpoint.interval': 3}).train()
    # One removal at the start, then one after every 2 iterations.
    assert recorder.after_iter == [layers[:3], layers[:2], layers[:2]]
    saved = torch.load(tmp_path / 'work/iter_3.pth', weights_only=True)
    assert saved['meta']['mmsls_sls']['kept_units'] == ['layers.0']
    assert saved['meta']['mmsls_depth']['kept'] == layers[:2]

    resumed = StructureRecorder()
    runner_of(config, tmp_path / 'work', 'iterative-resumed', resumed, resume=True,
              load_from=None, **{'train_cfg.max_iters': 6,
                                 'default_hooks.checkpoint.interval': 3}).train()
    assert resumed.after_iter == [layers[:1]] * 3  # due after iteration 4, the same schedule


def test_resumed_run_keeps_the_decision_without_analysing_again(
        tiny_data_dir, tmp_path, monkeypatch, petl_checkpoints):
    monkeypatch.chdir(tiny_data_dir)
    petl, checkpoint = petl_checkpoints('mmpretrain')
    config = sls_config(tmp_path, petl, checkpoint, 'resume', num_samples=24, backend='sklearn')
    runner_of(config, tmp_path / 'work', 'resume').train()
    first = json.loads((tmp_path / 'work/sls_scores.json').read_text())
    (tmp_path / 'work/sls_scores.json').unlink()

    recorder = StructureRecorder()
    runner_of(config, tmp_path / 'work', 'resume-again', recorder, resume=True,
              load_from=None, **{'train_cfg.max_iters': 3}).train()
    assert not (tmp_path / 'work/sls_scores.json').exists(), 'the pruned model was analysed again'
    assert recorder.after_iter == [first['kept_units']]


def test_reinit_adapters_starts_them_from_their_initialisation(
        tiny_data_dir, tmp_path, monkeypatch, petl_checkpoints):
    monkeypatch.chdir(tiny_data_dir)
    petl, checkpoint = petl_checkpoints('mmpretrain')

    def adapters_after_sls(name, **hook):
        config = sls_config(tmp_path, petl, checkpoint, name, keep=2, **hook)
        recorder = AdapterRecorder()
        runner_of(config, tmp_path / name, name, recorder, **{'train_cfg.max_iters': 1}).train()
        return recorder.before_train

    kept = adapters_after_sls('ft')
    reset = adapters_after_sls('tfs', reinit_adapters=True)
    assert len(kept) == len(reset) == 4  # two layers, two adapters each
    assert all(up.abs().max() > 0 for up, _ in kept), 'PETL-trained adapters were loaded'
    assert all(up.abs().max() == 0 for up, _ in reset)
    assert all(down.abs().max() > 0 for _, down in reset)
    assert all(not torch.equal(down, kept_down) for (_, down), (_, kept_down) in zip(reset, kept))


@pytest.mark.parametrize('kwargs, message', [
    (dict(alpha=0), r'alpha must be in \(0, 1\]'),
    (dict(keep=0), 'keep must be an int >= 1'),
    (dict(keep='2'), 'keep must be a depth k'),
    (dict(keep=[]), 'keep must be a depth k'),
    (dict(dry_run=True, keep=2), 'dry_run=True .* cannot go with keep'),
    (dict(iterative=True), 'iterative=True needs iterative_interval'),
    (dict(iterative_interval=5), 'iterative=True needs iterative_interval'),
    (dict(iterative=True, iterative_interval=0), 'iterative_interval must be a positive int'),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SLSHook(**kwargs)


def test_reinit_without_adapters_is_refused(tiny_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny_data_dir)
    config = tmp_path / 'plain.py'
    config.write_text(f"_base_ = ['{TINY_CONFIGS['mmpretrain']}']\n"
                      "custom_hooks = [dict(type='mmsls.SLSHook', keep=2, reinit_adapters=True)]\n")
    with pytest.raises(ValueError, match='no adapters.*AdaptedBackbone'):
        runner_of(config, tmp_path / 'work', 'plain').train()


RECIPES = Path(__file__).resolve().parents[2] / 'configs/sls'


@pytest.mark.parametrize('name, hook_options, lr, scheduler', [
    ('vit-b16_repadapter_sls-1clr_in1k', {}, 1e-3, ['LinearLR', 'CosineAnnealingLR']),
    ('vit-b16_repadapter_sls-ft_in1k', {}, 1e-5, ['ConstantLR']),
    ('vit-b16_repadapter_sls-tfs_in1k', dict(reinit_adapters=True), 1e-3,
     ['LinearLR', 'CosineAnnealingLR']),
    ('vit-b16_repadapter_sls-iterative_in1k', dict(iterative=True, iterative_interval=500), 1e-3,
     ['LinearLR', 'CosineAnnealingLR']),
])
def test_retraining_recipes(name, hook_options, lr, scheduler):
    cfg = Config.fromfile(RECIPES / f'{name}.py')
    assert cfg.load_from.endswith('vit-b16_repadapter_in1k/epoch_100.pth')
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert [scheduler['type'] for scheduler in cfg.param_scheduler] == scheduler
    (hook_cfg, ) = cfg.custom_hooks
    hook = HOOKS.build(hook_cfg)
    assert isinstance(hook, SLSHook) and hook.alpha == 0.3 and hook.analysis.num_samples == 1000
    assert [transform['type'] for transform in analysis_pipeline(cfg, hook.analysis.pipeline)] == [
        'LoadImageFromFile', 'ResizeEdge', 'CenterCrop', 'PackInputs']  # unaugmented
    for option, value in hook_options.items():
        assert getattr(hook, option) == value


@pytest.mark.parametrize('name', ['retinanet_swin-t_repadapter_sls_coco',
                                  'setr_vit-l_pup_repadapter_sls_ade20k'])
def test_dense_recipes_add_the_hook_to_the_petl_config(name):
    cfg = Config.fromfile(RECIPES / f'{name}.py')
    assert cfg.model.backbone.type == 'mmsls.AdaptedBackbone'
    assert [hook['type'] for hook in cfg.custom_hooks] == ['mmsls.SLSHook']
    assert cfg.load_from.startswith('work_dirs/')


# End to end through the tools: PETL-train, SLS prune + re-train, test the pruned checkpoint.

METRIC_KEYS = {'mmpretrain': 'accuracy/top1', 'mmdet': 'coco/bbox_mAP', 'mmseg': 'mIoU'}


@pytest.mark.parametrize('scope', sorted(TINY_CONFIGS))
def test_sls_prunes_retrains_and_the_pruned_checkpoint_tests(scope, tiny_data_dir, tmp_path,
                                                             petl_checkpoints):
    petl, checkpoint = petl_checkpoints(scope)
    config = sls_config(tmp_path, petl, checkpoint, 'sls', alpha=0.3, num_samples=48,
                        backend='sklearn', plot_tsne=True)
    work_dir = tmp_path / 'work'
    proc = run_tool('train.py', config, '--work-dir', work_dir, cwd=tiny_data_dir)
    assert f'Load checkpoint from {checkpoint}' in proc.stdout + proc.stderr
    for name in ('sls_scores.json', 'sls_scores.png', 'sls_tsne.png'):
        assert (work_dir / name).is_file()
    record = json.loads((work_dir / 'sls_scores.json').read_text())
    assert record['kept_depth'] == depth_from_scores(record['scores'], record['alpha'])[0]
    assert record['threshold'] == pytest.approx(record['alpha'] * record['scores'][-1])
    assert record['num_samples'] >= 2 * record['num_classes']

    saved = torch.load(work_dir / 'iter_2.pth', weights_only=True)
    structure = saved['meta']['mmsls_depth']
    assert structure['units'] == record['units']
    assert structure['kept'] == record['kept_units'] == saved['meta']['mmsls_sls']['kept_units']
    assert len(structure['kept']) < len(structure['units']), 'SLS pruned nothing'
    assert saved['meta']['mmsls_sls']['start_iter'] == 0

    out = tmp_path / 'metrics.json'
    run_tool('test.py', petl, work_dir / 'iter_2.pth', '--work-dir', tmp_path / 'test',
             '--out-metrics', out, cwd=tiny_data_dir)
    assert METRIC_KEYS[scope] in json.loads(out.read_text())


def test_the_hook_analysed_the_loaded_weights(tiny_data_dir, tmp_path, monkeypatch,
                                              petl_checkpoints):
    """tools/analyze_layers.py on the stage-1 checkpoint gives the hook's scores exactly, and the
    same hook without ``load_from`` (the initial weights) gives others."""
    monkeypatch.chdir(tiny_data_dir)
    petl, checkpoint = petl_checkpoints('mmpretrain')
    config = sls_config(tmp_path, petl, checkpoint, 'sls', num_samples=24, backend='sklearn',
                        dry_run=True)

    def hook_scores(name, **options):
        runner_of(config, tmp_path / name, name, **{'train_cfg.max_iters': 1, **options}).train()
        return json.loads((tmp_path / name / 'sls_scores.json').read_text())['scores']

    loaded = hook_scores('loaded')
    proc = run_tool('analyze_layers.py', petl, checkpoint, '--num-samples', 24, '--alpha', 0.3, 0.1,
                    '--work-dir', tmp_path / 'tool', cwd=tiny_data_dir)
    tool = json.loads((tmp_path / 'tool/sls_scores.json').read_text())
    np.testing.assert_array_equal(tool['scores'], loaded)
    assert [decision['alpha'] for decision in tool['decisions']] == [0.3, 0.1]
    assert 'alpha=0.1: threshold' in proc.stdout and 'layers.3' in proc.stdout
    assert not np.allclose(hook_scores('initial', load_from=None), loaded)


def test_analyze_layers_reapplies_a_pruned_structure(tiny_data_dir, tmp_path, monkeypatch,
                                                     petl_checkpoints):
    monkeypatch.chdir(tiny_data_dir)
    petl, checkpoint = petl_checkpoints('mmdet')
    config = sls_config(tmp_path, petl, checkpoint, 'keep', keep=2)
    runner_of(config, tmp_path / 'work', 'keep').train()
    run_tool('analyze_layers.py', petl, tmp_path / 'work/iter_2.pth', '--num-samples', 12,
             '--work-dir', tmp_path / 'tool', cwd=tiny_data_dir)
    record = json.loads((tmp_path / 'tool/sls_scores.json').read_text())
    # Depth 2 keeps the first two blocks and the first block of every stage.
    assert record['units'] == ['stages.0.blocks.0', 'stages.1.blocks.0', 'stages.2.blocks.0',
                               'stages.3.blocks.0']
    assert record['task'] == 'detection'


def test_two_ranks_end_with_the_same_structure(tiny_data_dir, tmp_path, petl_checkpoints):
    petl, checkpoint = petl_checkpoints('mmpretrain')
    config = sls_config(tmp_path, petl, checkpoint, 'sls', num_samples=24, backend='sklearn')
    work_dir = tmp_path / 'work'
    # DEBUG makes every rank write its own log file.
    run_tool('dist_train.sh', config, 2, '--work-dir', work_dir, '--cfg-options', 'log_level=DEBUG',
             cwd=tiny_data_dir)
    structures = {}
    for log in work_dir.glob('*/*rank*.log'):
        lines = [line.split(' - ')[-1] for line in log.read_text().splitlines()
                 if 'SLS: the model now has' in line]
        structures[log.name.rpartition('rank')[2]] = lines
    assert sorted(structures) == ['0.log', '1.log']
    assert len(structures['0.log']) == 1 and structures['0.log'] == structures['1.log']
    record = json.loads((work_dir / 'sls_scores.json').read_text())
    assert str(record['kept_units']) in structures['0.log'][0]
    saved = torch.load(work_dir / 'iter_2.pth', weights_only=True)
    assert saved['meta']['mmsls_depth']['kept'] == record['kept_units']
