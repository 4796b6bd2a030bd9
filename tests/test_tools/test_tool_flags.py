"""The OpenMMLab tool options mmsls's tools share with the libraries' own, and what they log."""
import json
import pickle
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmsls.runner import enable_test_visualization
from ..conftest import REPO, TINY_CONFIGS, run_tool
from ..test_apis.test_task import train_and_save, write_backbone_checkpoint
from ..test_depth.conftest import vit_classifier_cfg


def adapted_tiny_config(path):
    """The tiny ViT with RepAdapters (a frozen backbone) and a paramwise_cfg, which makes MMEngine's
    optimizer constructor warn once per frozen parameter."""
    path.write_text('\n'.join([
        f'_base_ = [{str(TINY_CONFIGS["mmpretrain"])!r}]',
        "model = dict(backbone=dict(_delete_=True, type='mmsls.AdaptedBackbone',",
        "                           backbone=_base_.model.backbone,",
        "                           adapter=dict(type='RepAdapter', hidden_dims=8)))",
        'optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.0))',
        'auto_scale_lr = dict(base_batch_size=4)',
    ]) + '\n')
    return path


def test_train_auto_scale_lr_no_validate_and_one_line_for_the_frozen_parameters(tiny_data_dir,
                                                                                 tmp_path):
    config = adapted_tiny_config(tmp_path / 'adapted.py')
    proc = run_tool('train.py', config, '--work-dir', tmp_path / 'work', '--auto-scale-lr',
                    '--no-validate', cwd=tiny_data_dir)
    log = proc.stdout + proc.stderr
    # Batch 8 against the config's base 4: the learning rate doubles (1e-3 -> 2e-3).
    assert 'Scaling the original LR by 2.0' in log
    saved = torch.load(tmp_path / 'work/iter_2.pth', weights_only=False)
    assert [group['lr'] for group in saved['optimizer']['param_groups']] == pytest.approx(
        [2e-3] * len(saved['optimizer']['param_groups']))
    assert 'accuracy/top1' not in log  # no validation at iteration 2 (val_interval=2)
    # MMEngine's warning per frozen parameter (~150 for SETR) is one summary line.
    assert 'is skipped since its requires_grad=False' not in log
    summary = [line for line in log.splitlines() if 'frozen parameter tensors' in line]
    assert len(summary) == 1
    assert re.search(r'optimizer: [1-9]\d* frozen parameter tensors', summary[0])


def test_auto_scale_lr_needs_the_base_batch_size(tiny_data_dir, tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / 'tools/train.py'),
                           str(TINY_CONFIGS['mmpretrain']), '--auto-scale-lr', '--work-dir',
                           str(tmp_path)], cwd=tiny_data_dir, capture_output=True, text=True,
                          env={'PYTHONPATH': str(REPO), 'PATH': '/usr/bin:/bin'}, timeout=300)
    assert proc.returncode != 0
    assert '--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...)' in proc.stderr


def test_test_dumps_predictions_writes_metrics_and_draws(tiny_data_dir, tmp_path):
    config = TINY_CONFIGS['mmpretrain']
    run_tool('train.py', config, '--work-dir', tmp_path / 'work', cwd=tiny_data_dir)
    checkpoint = tmp_path / 'work/iter_2.pth'
    predictions, metrics, drawn = tmp_path / 'preds.pkl', tmp_path / 'm.json', tmp_path / 'vis'
    run_tool('test.py', config, checkpoint, '--work-dir', tmp_path / 'test', '--out', predictions,
             '--out-metrics', metrics, '--show-dir', drawn, '--cfg-options',
             'default_hooks.visualization.type=VisualizationHook',
             'visualizer.type=UniversalVisualizer', cwd=tiny_data_dir)
    # As mmdet's --out: the predictions, one per test image, for offline evaluation.
    with open(predictions, 'rb') as file:
        dumped = pickle.load(file)
    test_images = (tiny_data_dir / 'data/tiny_cls/meta/test.txt').read_text().split('\n')
    assert len(dumped) == len([line for line in test_images if line.strip()])
    assert {'pred_label', 'pred_score', 'gt_label'} <= set(dumped[0])
    assert isinstance(json.loads(metrics.read_text())['accuracy/top1'], float)
    # Every test image drawn, named as mmpretrain's hook names them (same basenames overwrite).
    assert {path.name for path in drawn.glob('*.png')} == {
        f'{sample["img_path"].rpartition("/")[2]}_0.png' for sample in dumped}


def test_predictions_must_go_to_a_pickle(tiny_data_dir, tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / 'tools/test.py'),
                           str(TINY_CONFIGS['mmpretrain']), str(tmp_path / 'x.pth'), '--out',
                           str(tmp_path / 'preds.json')], cwd=tiny_data_dir, capture_output=True,
                          text=True, env={'PYTHONPATH': str(REPO), 'PATH': '/usr/bin:/bin'},
                          timeout=300)
    assert proc.returncode != 0
    assert 'must end in .pkl or .pickle; the metrics go to --out-metrics' in proc.stderr


@pytest.mark.parametrize('hook, option', [
    ('VisualizationHook', 'out_dir'), ('DetVisualizationHook', 'test_out_dir'),
    ('mmseg.SegVisualizationHook', None)])
def test_show_options_reach_each_librarys_visualization_hook(hook, option):
    cfg = Config(dict(default_hooks=dict(visualization=dict(type=hook)),
                      visualizer=dict(type='Visualizer')))
    cfg = enable_test_visualization(cfg, show_dir='drawn', show=True, wait_time=0.5)
    drawn = cfg.default_hooks.visualization
    assert drawn.show is True and drawn.wait_time == 0.5
    assert drawn.get('enable', drawn.get('draw')) is True
    if option is None:  # mmseg's hook draws into the visualizer's save_dir
        assert cfg.visualizer.save_dir == 'drawn'
    else:
        assert drawn[option] == 'drawn'
    with pytest.raises(ValueError, match='--show/--show-dir need the visualization hook'):
        enable_test_visualization(Config(dict(default_hooks=dict())), show=True)


def test_export_task_with_the_backbone_checkpoint_alone_and_one_init_line(tmp_path):
    # The config names no pre-trained checkpoint: --backbone-checkpoint is enough.
    write_backbone_checkpoint('mmpretrain', tmp_path / 'backbone.pth', seed=3)
    model = vit_classifier_cfg()
    model['backbone'] = dict(type='mmsls.AdaptedBackbone', backbone=model['backbone'],
                             adapter=dict(type='RepAdapter'))
    cfg = Config(dict(model=model, default_scope='mmpretrain'))
    cfg.dump(str(tmp_path / 'config.py'))
    trained_cfg = Config(dict(model=dict(model, backbone=dict(model['backbone'], backbone=dict(
        model['backbone']['backbone'], init_cfg=dict(type='Pretrained',
                                                      checkpoint=str(tmp_path / 'backbone.pth'))))),
                              default_scope='mmpretrain'))
    train_and_save(trained_cfg, [0, 1], tmp_path / 'trained.pth')
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/export_task.py'), str(tmp_path / 'config.py'),
         str(tmp_path / 'trained.pth'), str(tmp_path / 'task.pth'), '--backbone-checkpoint',
         str(tmp_path / 'backbone.pth')],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert 'stored parameters per task: ' in output
    # MMEngine's per-parameter initialisation lines are one summary line.
    assert 'torch.Size([' not in output
    assert sum('initialised' in line and 'parameter tensors' in line
               for line in output.splitlines()) == 1


def test_merge_adapters_takes_cfg_options(tmp_path):
    from ..test_adapters.test_merge_tool import _adapted_config, _build, _load_tool
    config = _adapted_config('mmpretrain', tmp_path)
    checkpoint = tmp_path / 'adapted.pth'
    torch.save({'meta': {}, 'state_dict': _build(config).state_dict()}, checkpoint)
    _load_tool().main([str(config), str(checkpoint), str(tmp_path / 'merged'),
                       '--cfg-options', 'train_cfg.max_iters=7'])
    merged = Config.fromfile(tmp_path / 'merged/merged_config.py')
    assert merged.train_cfg.max_iters == 7 != Config.fromfile(config).train_cfg.max_iters
