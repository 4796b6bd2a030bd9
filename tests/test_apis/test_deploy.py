"""Deployment: a pruned, adapted model as a plain config of its own library, used without mmsls."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from mmsls.adapters import named_adapters
from mmsls.apis import deploy_model, init_model, save_deployment
from mmsls.apis.deploy import mmsls_types, plain_unit_names, renamed_units, tensor_outputs
from mmsls.depth import DEPTH_RECORD_KEY, depth_structure, find_backbone, prune_depth
from mmsls.families.base import PlainConfigError
from ..conftest import REPO, TINY_CONFIGS, run_tool

# Per scope: input side, positions to keep (Swin: stage 2 loses its second block; SETR: layer 4 of
# six goes, its four outputs remap), and an image of the tiny set for the inferencer.
SCOPES = {
    'mmpretrain': (32, [0, 2], 'data/tiny_cls/test/class_0'),
    'mmdet': (64, [0, 1, 2, 4], 'data/tiny_coco/val'),
    'mmseg': (64, [0, 1, 2, 3, 5], 'data/tiny_ade/images/validation'),
}
CHILD = Path(__file__).with_name('plain_library.py')
# The inferencers need the visualizer that the official configs' default_runtime.py sets.
VISUALIZERS = {'mmdet': 'DetLocalVisualizer', 'mmseg': 'SegLocalVisualizer'}


def trained_checkpoint(scope, tmp_path, adapter='RepAdapter', keep=None):
    """A tiny model of ``scope`` with ``adapter``s as trained (random non-zero adapters, neck
    and heads on the initialised model), pruned to ``keep`` and saved as a Runner would, with its config file."""
    cfg = Config.fromfile(TINY_CONFIGS[scope])
    cfg.model.backbone = dict(type='mmsls.AdaptedBackbone', backbone=cfg.model.backbone,
                              adapter=dict(type=adapter))
    if scope in VISUALIZERS:
        cfg.visualizer = dict(type=VISUALIZERS[scope], name='visualizer')
    config = tmp_path / f'{scope}_{adapter}.py'
    cfg.dump(str(config))
    model = init_model(cfg)
    torch.manual_seed(0)
    model.init_weights()
    with torch.no_grad():  # what training changes: the adapters, and the neck and heads
        for _, module in named_adapters(model):
            for param in module.parameters():
                param.copy_(torch.randn_like(param) * 0.1)
        for name, param in model.named_parameters():
            if not name.startswith('backbone.'):
                param.add_(torch.randn_like(param) * 0.05)
    prune_depth(model, SCOPES[scope][1] if keep is None else keep, allow_empty_stages=True)
    checkpoint = tmp_path / f'{scope}_{adapter}.pth'
    meta = {DEPTH_RECORD_KEY: depth_structure(model),
            'dataset_meta': dict(classes=list(cfg.get('classes', ('a', 'b', 'c'))))}
    torch.save(dict(meta=meta, state_dict=model.state_dict()), checkpoint)
    return config, checkpoint


def run_without_mmsls(*args, cwd):
    """plain_library.py in a child process where ``import mmsls`` fails."""
    env = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH'}
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, str(CHILD), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc.stdout


@pytest.mark.parametrize('scope', sorted(SCOPES))
def test_deployed_model_runs_in_its_library_without_mmsls(scope, tmp_path, tiny_data_dir):
    side, keep, images = SCOPES[scope]
    config, checkpoint = trained_checkpoint(scope, tmp_path)
    result = deploy_model(str(config), str(checkpoint))
    assert result.plain and not result.notes and result.merged_adapters == 2 * len(keep)
    assert not list(mmsls_types(result.cfg.to_dict())) and 'custom_imports' not in result.cfg
    assert result.cost_after['params'] < result.cost_before['params']
    assert result.cost_after['flops'] < result.cost_before['flops']
    out_dir = tmp_path / 'deployed'
    config_out, weights_out = save_deployment(result, str(out_dir))

    inputs = torch.randn(2, 3, side, side) + 0.5
    torch.save(inputs, tmp_path / 'inputs.pt')
    image = sorted((tiny_data_dir / images).iterdir())[0]
    stdout = run_without_mmsls(scope, config_out, weights_out, tmp_path / 'inputs.pt',
                               tmp_path / 'outputs.pt', image, tmp_path / 'work',
                               cwd=tiny_data_dir)
    assert 'INFERENCER' in stdout and 'TEST LOOP DONE' in stdout

    # The mmsls model as trained: pruned by its record, adapters unmerged.
    reference = tensor_outputs(init_model(str(config), str(checkpoint)), inputs)
    plain = torch.load(tmp_path / 'outputs.pt')
    assert len(plain) == len(reference) and min(t.abs().max() for t in reference) > 0.1
    assert max((a - b).abs().max().item() for a, b in zip(plain, reference)) < 1e-5


def test_plain_vit_config_numbers_the_kept_layers(tmp_path):
    config, checkpoint = trained_checkpoint('mmseg', tmp_path)
    result = deploy_model(str(config), str(checkpoint))
    backbone = result.cfg.model.backbone
    assert backbone.type == 'VisionTransformer' and backbone.num_layers == 5
    assert list(backbone.out_indices) == [1, 2, 3, 4]  # (1, 2, 4, 5) of six, remapped onto five
    keys = {key.split('.')[2] for key in result.state_dict if key.startswith('backbone.layers.')}
    assert keys == {'0', '1', '2', '3', '4'}
    # The kept layer 5 is the plain model's layer 4, with the merged attention of layer 5.
    model = init_model(str(config), str(checkpoint))
    assert not torch.equal(result.state_dict['backbone.layers.4.attn.attn.in_proj_weight'],
                           model.state_dict()['backbone.layers.5.attn.attn.in_proj_weight'])
    assert torch.equal(result.state_dict['backbone.layers.4.ln1.weight'],
                       model.state_dict()['backbone.layers.5.ln1.weight'])


def test_convpass_keeps_the_mmsls_config_and_says_why(tmp_path, tiny_data_dir, monkeypatch):
    config, checkpoint = trained_checkpoint('mmpretrain', tmp_path, adapter='Convpass')
    result = deploy_model(str(config), str(checkpoint))
    assert not result.plain and result.merged_adapters == 0
    assert 'Convpass adapters cannot be folded' in result.notes[0]
    assert result.cfg.model.backbone.type == 'mmsls.AdaptedBackbone'
    assert 'mmsls' in result.cfg.custom_imports.imports
    assert result.cfg.custom_hooks == [dict(type='mmsls.DepthStructureHook')]
    assert result.meta[DEPTH_RECORD_KEY]['kept'] == ['layers.0', 'layers.2']
    assert result.max_abs_diff == 0
    config_out, weights_out = save_deployment(result, str(tmp_path / 'deployed'))
    # What the libraries' test.py does with it, mmsls importable: the hook prunes before loading.
    from mmengine.runner import Runner
    monkeypatch.chdir(tiny_data_dir)
    cfg = Config.fromfile(config_out)
    cfg.work_dir, cfg.load_from = str(tmp_path / 'work'), weights_out
    metrics = Runner.from_cfg(cfg).test()
    assert 'accuracy/top1' in metrics


def test_swin_shift_parity_keeps_the_mmsls_config_with_merged_adapters(tmp_path):
    # Stage 2 keeps only its block 1 (shifted), which a plain stage would put at position 0.
    config, checkpoint = trained_checkpoint('mmdet', tmp_path, keep=[0, 1, 3, 4])
    result = deploy_model(str(config), str(checkpoint))
    assert not result.plain and result.merged_adapters == 8
    assert 'stage 2 keeps blocks [1]' in result.notes[0]
    assert result.cfg.model.backbone.type == 'SwinTransformer'  # folded, unpruned in the config
    assert result.meta[DEPTH_RECORD_KEY]['kept'] == [
        'stages.0.blocks.0', 'stages.1.blocks.0', 'stages.2.blocks.1', 'stages.3.blocks.0']
    assert result.cfg.custom_hooks == [dict(type='mmsls.DepthStructureHook')]
    assert result.max_abs_diff < 1e-4


def test_deploy_tool_refuses_to_overwrite_its_inputs(tmp_path):
    config, checkpoint = trained_checkpoint('mmpretrain', tmp_path)
    (tmp_path / 'model.pth').write_bytes(checkpoint.read_bytes())
    proc = subprocess.run([sys.executable, str(REPO / 'tools/deploy.py'), str(config),
                           str(tmp_path / 'model.pth'), str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode != 0 and 'refusing to write' in proc.stderr and '--force' in proc.stderr


def test_deploy_tool_prints_costs_and_the_check(tmp_path):
    config, checkpoint = trained_checkpoint('mmpretrain', tmp_path)
    stdout = run_tool('deploy.py', config, checkpoint, tmp_path / 'out', cwd=tmp_path).stdout
    assert 'merged 4 RepAdapters; params' in stdout and 'backbone FLOPs' in stdout
    assert 'a plain config and checkpoint (no mmsls type)' in stdout
    assert float(stdout.split('on a random input: ')[1].split()[0]) < 1e-5
    assert 'mmsls' not in (tmp_path / 'out/config.py').read_text()


# --- the families' plain configs -----------------------------------------------------------------
def _build(cfg, scope):
    init_default_scope(scope)
    model = MODELS.build(cfg)
    model.eval()  # a statement: some backbones' train() returns None
    return model


def _plain_equals_pruned(family_cfg, scope, keep, side=64):
    pruned = _build(family_cfg, scope)
    with torch.no_grad():
        for param in pruned.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    family, backbone = find_backbone(pruned)
    prune_depth(pruned, keep, allow_empty_stages=True)
    plain_cfg = family.plain_backbone_config(family_cfg, backbone)
    plain = _build(plain_cfg, scope)
    plain.load_state_dict(renamed_units(pruned.state_dict(), '', plain_unit_names(family, backbone)))
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        for got, want in zip(plain(x), pruned(x)):
            assert torch.allclose(got, want, atol=1e-6)
    return plain_cfg


def test_mmpretrain_vit_arch_name_becomes_settings():
    cfg = dict(type='VisionTransformer', arch='deit-tiny', img_size=32, patch_size=16,
               out_indices=(5, 11), frozen_stages=6)
    plain = _plain_equals_pruned(cfg, 'mmpretrain', [0, 1, 2, 4, 7, 11], side=32)
    assert plain['arch'] == dict(embed_dims=192, num_layers=6, num_heads=3,
                                 feedforward_channels=768)
    assert plain['out_indices'] == [2, 5] and plain['frozen_stages'] == 4
    assert cfg['arch'] == 'deit-tiny'  # the caller's config is left alone


def test_swin_depths_keep_shift_parity_or_refuse():
    cfg = dict(type='SwinTransformer', embed_dims=16, depths=(2, 2, 4, 2), num_heads=(1, 2, 2, 4),
               window_size=4, out_indices=(1, 2, 3))
    # Units: stage 0 = 0, 1; stage 1 = 2, 3; stage 2 = 4..7; stage 3 = 8, 9.
    plain = _plain_equals_pruned(cfg, 'mmdet', [0, 2, 3, 4, 5, 6, 8])
    assert plain['depths'] == [1, 2, 3, 1]
    pruned = _build(cfg, 'mmdet')
    family, backbone = find_backbone(pruned)
    prune_depth(pruned, [0, 1, 2, 3, 4, 6, 7, 8, 9])  # stage 2 keeps 0, 2, 3: 2 would shift
    with pytest.raises(PlainConfigError, match=r'stage 2 keeps blocks \[0, 2, 3\]: in a plain '
                       r'config block 2 would sit at a position whose window shift differs'):
        family.plain_backbone_config(cfg, backbone)


def test_mmpretrain_swin_arch_depths():
    cfg = dict(type='SwinTransformer', arch=dict(embed_dims=16, depths=[2, 2, 2, 2],
                                                 num_heads=[1, 2, 2, 4]),
               img_size=64, window_size=4, out_indices=(3, ), pad_small_map=True)
    plain = _plain_equals_pruned(cfg, 'mmpretrain', [0, 2, 3, 4, 6])
    assert plain['arch']['depths'] == [1, 2, 1, 1]


def test_cnn_plain_configs():
    convnext = dict(type='ConvNeXt', arch=dict(depths=[2, 2, 3, 2], channels=[8, 16, 32, 64]),
                    out_indices=(3, ), gap_before_final_norm=False)
    plain = _plain_equals_pruned(convnext, 'mmpretrain', [0, 2, 4, 5, 7])
    assert plain['arch'] == dict(depths=[1, 1, 2, 1], channels=[8, 16, 32, 64])
    resnet = _build(dict(type='ResNet', depth=18), 'mmpretrain')
    family, backbone = find_backbone(resnet)
    prune_depth(resnet, [0, 2, 4, 6])
    with pytest.raises(PlainConfigError, match='takes its blocks per stage only from `depth`'):
        family.plain_backbone_config(dict(type='ResNet', depth=18), backbone)
