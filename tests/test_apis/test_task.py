"""Task files: the weights one pruned task adds to the shared frozen backbone, and their round trip."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mmsls.apis import build_initialised_model, export_task, load_task
from mmsls.depth import DEPTH_RECORD_KEY, depth_structure, prune_depth
from ..test_depth.conftest import build, swin_backbone_cfg, swin_retinanet_cfg, vit_classifier_cfg

REPO = Path(__file__).resolve().parents[2]


def write_backbone_checkpoint(scope, path, seed):
    """A "pre-trained" backbone checkpoint in the form the family's Pretrained init reads."""
    if scope == 'mmpretrain':
        backbone = build(scope, vit_classifier_cfg()['backbone'], seed=seed)
        torch.save(backbone.state_dict(), path)
    else:  # mmdet's Swin loads the keys under "backbone."
        backbone = build(scope, swin_backbone_cfg(), seed=seed)
        torch.save({f'backbone.{key}': value for key, value in backbone.state_dict().items()}, path)


def task_config(scope, backbone_checkpoint):
    """An adapted model (RepAdapter, trained biases) whose backbone starts from the checkpoint."""
    model = vit_classifier_cfg() if scope == 'mmpretrain' else swin_retinanet_cfg()
    inner = dict(model['backbone'], init_cfg=dict(type='Pretrained', checkpoint=str(backbone_checkpoint)))
    model['backbone'] = dict(type='mmsls.AdaptedBackbone', backbone=inner,
                             adapter=dict(type='RepAdapter'), train_bias=True)
    return Config(dict(model=model, default_scope=scope))


def train_and_save(cfg, keep, path):
    """Stand-in for training: the trainable weights get new values, then the model is pruned."""
    model = build_initialised_model(cfg, cfg.model.backbone.backbone.init_cfg.checkpoint)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for param in model.parameters():
            if param.requires_grad:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    prune_depth(model, keep)
    torch.save(dict(meta={DEPTH_RECORD_KEY: depth_structure(model)}, state_dict=model.state_dict()),
               path)
    return model


def predict(scope, model, images):
    with torch.no_grad():
        if scope == 'mmpretrain':
            return [model(images, mode='tensor')]
        return [*model.bbox_head(model.extract_feat(images))[0]]


@pytest.mark.parametrize('scope,keep,size', [('mmpretrain', [0, 2], 32), ('mmdet', [0, 1, 3, 5, 6], 64)])
def test_round_trip_reproduces_the_pruned_model(scope, keep, size, tmp_path):
    write_backbone_checkpoint(scope, tmp_path / 'backbone.pth', seed=3)
    cfg = task_config(scope, tmp_path / 'backbone.pth')
    trained = train_and_save(cfg, keep, tmp_path / 'trained.pth')

    counts = export_task(cfg, str(tmp_path / 'trained.pth'), str(tmp_path / 'task.pth'))
    task = torch.load(tmp_path / 'task.pth', weights_only=True)
    stored = set(task['state_dict'])
    # What trained is stored; frozen backbone weights come from the shared checkpoint.
    assert counts['stored'] == sum(param.numel() for param in trained.parameters()
                                   if param.requires_grad)
    assert counts['model'] < counts['unpruned']
    adapted_units = {key.split('.adapter_')[0][len('backbone.'):] for key in stored
                     if '.adapter_' in key}
    assert adapted_units == set(depth_structure(trained)['kept']), 'adapters of the kept units only'
    assert task['shared_keys'] and all(
        key.startswith('backbone.') and not key.endswith('bias') and '.adapter_' not in key
        for key in task['shared_keys'])
    assert stored.isdisjoint(task['shared_keys'])
    assert task['depth'] == depth_structure(trained)

    loaded = load_task(cfg, str(tmp_path / 'task.pth'))
    images = torch.randn(2, 3, size, size)
    for got, want in zip(predict(scope, loaded, images), predict(scope, trained, images)):
        assert torch.equal(got, want)


def test_backbone_fingerprint_mismatch_is_refused(tmp_path):
    write_backbone_checkpoint('mmpretrain', tmp_path / 'backbone.pth', seed=3)
    cfg = task_config('mmpretrain', tmp_path / 'backbone.pth')
    train_and_save(cfg, [0, 1], tmp_path / 'trained.pth')
    export_task(cfg, str(tmp_path / 'trained.pth'), str(tmp_path / 'task.pth'))

    write_backbone_checkpoint('mmpretrain', tmp_path / 'other.pth', seed=4)
    with pytest.raises(ValueError, match=r'the backbone checkpoint .*other\.pth has sha256 [0-9a-f]{64}, '
                       r'but the task file .* was exported on top of the one with sha256'):
        load_task(cfg, str(tmp_path / 'task.pth'), backbone_checkpoint=str(tmp_path / 'other.pth'))


def test_config_without_backbone_checkpoint_is_refused(tmp_path):
    cfg = Config(dict(model=vit_classifier_cfg(), default_scope='mmpretrain'))
    with pytest.raises(ValueError, match='the config names no pre-trained backbone checkpoint'):
        export_task(cfg, str(tmp_path / 'missing.pth'), str(tmp_path / 'task.pth'))


def test_cli_reports_stored_parameters(tmp_path):
    write_backbone_checkpoint('mmpretrain', tmp_path / 'backbone.pth', seed=3)
    cfg = task_config('mmpretrain', tmp_path / 'backbone.pth')
    cfg.dump(str(tmp_path / 'config.py'))
    train_and_save(cfg, [0, 1], tmp_path / 'trained.pth')
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/export_task.py'), str(tmp_path / 'config.py'),
         str(tmp_path / 'trained.pth'), str(tmp_path / 'task.pth')],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'stored parameters per task: ' in proc.stdout
    assert (tmp_path / 'task.pth').is_file()
