"""The 228 generated VTAB-1k configs (19 tasks x 2 adapters x {ViT-B/16: PETL/SLS stage, Swin-B:
PETL/SLS/prune-2/prune-4 stage}): in sync with their generator, carrying the published per-task
settings, and every one builds."""
import copy
import functools
import importlib.util

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import HOOKS, MODELS, init_default_scope

from mmsls.datasets import VTAB1K_TASKS, write_tiny_vtab
from mmsls.depth import depth_keep, prunable_units, prune_depth
from .recipes import CONFIGS, REPO, shrink, vtab_configs


def _load_generator():
    spec = importlib.util.spec_from_file_location('gen_vtab_configs',
                                                  REPO / 'tools/gen_vtab_configs.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENERATOR = _load_generator()
ADAPTER_TYPES = {'repadapter': 'RepAdapter', 'convpass': 'Convpass'}
PETL_CONFIGS = {(adapter, task): CONFIGS / 'vtab' / adapter / f'{name}.py'
                for adapter in ADAPTER_TYPES for task in VTAB1K_TASKS
                for name in [GENERATOR.config_names(adapter, task)[0]]}
SLS_CONFIGS = {(adapter, task): CONFIGS / 'vtab' / adapter / f'{name}.py'
               for adapter in ADAPTER_TYPES for task in VTAB1K_TASKS
               for name in [GENERATOR.config_names(adapter, task)[1]]}


def test_configs_on_disk_are_what_the_generator_writes():
    rendered = GENERATOR.render_configs()
    assert len(rendered) == 76 + 152
    assert GENERATOR.stale_configs(rendered) == []
    assert sorted(rendered) == vtab_configs()  # and no stray configs


def test_published_settings_spot_checks():
    # Typed from the public configs (RepAdapter configs/repblock, PETL-ViT convpass/vtab/configs).
    published = GENERATOR.PUBLISHED
    assert published['cifar'].repadapter_scale == 0.1
    assert published['caltech101'].repadapter_scale == 5
    assert published['smallnorb_azi'].repadapter_scale == 10
    assert published['dtd'].convpass_scale == 0.01 and published['dtd'].convpass_xavier_init
    assert published['svhn'].convpass_scale == 100
    assert published['patch_camelyon'].convpass_scale == 10
    assert not published['patch_camelyon'].convpass_xavier_init
    scales = {s for p in published.values() for s in (p.repadapter_scale, p.convpass_scale)}
    assert scales <= {0.01, 0.1, 0.5, 1, 5, 10, 100}


@pytest.mark.parametrize('adapter, task', sorted(PETL_CONFIGS))
def test_petl_config_carries_the_task_settings_and_builds(adapter, task):
    cfg = Config.fromfile(PETL_CONFIGS[adapter, task])
    published = GENERATOR.PUBLISHED[task]
    num_classes = VTAB1K_TASKS[task].num_classes
    adapter_cfg = cfg.model.backbone.adapter
    assert adapter_cfg.type == ADAPTER_TYPES[adapter] and adapter_cfg.hidden_dims == 8
    if adapter == 'repadapter':
        assert (adapter_cfg.scale, adapter_cfg.groups) == (published.repadapter_scale, 2)
    else:
        assert adapter_cfg.scale == published.convpass_scale
        assert adapter_cfg.xavier_init == published.convpass_xavier_init
    assert cfg.model.head.num_classes == num_classes
    splits = {name: cfg[f'{name}_dataloader'].dataset for name in ('train', 'val', 'test')}
    assert {name: (d.type, d.task, d.split) for name, d in splits.items()} == {
        'train': ('mmsls.VTAB1k', task, 'train800val200'),
        'val': ('mmsls.VTAB1k', task, 'test'),
        'test': ('mmsls.VTAB1k', task, 'test')}
    # The PETL recipe.
    assert cfg.train_dataloader.batch_size == 64 and cfg.train_cfg.max_epochs == 100
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-3, weight_decay=1e-4)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 10)
    assert (cosine.type, cosine.begin, cosine.end, cosine.eta_min) == (
        'CosineAnnealingLR', 10, 100, 1e-5)
    inner = cfg.model.backbone.backbone
    assert (inner.arch, inner.patch_size, inner.img_size) == ('b', 16, 224)
    assert inner.init_cfg.type == 'Pretrained'

    init_default_scope(cfg.default_scope)
    model = MODELS.build(shrink(cfg, 'vtab').model)
    adapters = model.backbone.adapters()
    assert len(adapters) == 8  # 4 layers x (attention, MLP)
    assert {type(a).__name__ for a in adapters} == {ADAPTER_TYPES[adapter]}
    assert {a.scale for a in adapters} == {adapter_cfg.scale}
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert logits.shape == (2, num_classes)


@pytest.mark.parametrize('adapter, task', sorted(SLS_CONFIGS))
def test_sls_config_is_its_petl_config_plus_load_from_and_the_hook(adapter, task):
    petl = Config.fromfile(PETL_CONFIGS[adapter, task])
    sls = Config.fromfile(SLS_CONFIGS[adapter, task])
    assert sls.load_from == f'work_dirs/{PETL_CONFIGS[adapter, task].stem}/epoch_100.pth'
    assert sls.custom_hooks == [dict(type='mmsls.SLSHook', alpha=0.3, num_samples=1000,
                                     backend='auto')]
    assert 'custom_hooks' not in petl and petl.load_from is None
    # Re-training is the PETL recipe itself (1-CLR: one more warm-up + cosine cycle).
    differing = {key for key in set(petl) | set(sls) if petl.get(key) != sls.get(key)}
    assert differing == {'load_from', 'custom_hooks'}


def test_full_size_model_builds_with_only_adapters_and_head_trainable():
    cfg = Config.fromfile(PETL_CONFIGS['convpass', 'svhn'])
    cfg.model.backbone.backbone.init_cfg = None  # no weights here
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert len(model.backbone.backbone.layers) == 12
    assert model.backbone.backbone.embed_dims == 768
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all('.adapter_' in name or name.startswith('head.') for name in trainable)
    assert any(name.startswith('head.') for name in trainable)


def test_train_dataloader_of_a_recipe_reads_vtab_data(tmp_path):
    info = write_tiny_vtab(tmp_path, task='kitti', train_per_class=2, test_per_class=1, size=40)
    cfg = Config.fromfile(PETL_CONFIGS['repadapter', 'kitti'])
    init_default_scope(cfg.default_scope)
    from mmpretrain.registry import DATASETS
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=info['data_root']))
    assert len(dataset) == info['train800val200'] == 8
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 224, 224)  # resized from 40 px as published


# --- Swin-B (SLS paper, Table 5) ----------------------------------------------------------------
SWIN_CONFIGS = {(adapter, task, stage): CONFIGS / 'vtab' / adapter / f'{name}.py'
                for adapter in ADAPTER_TYPES for task in VTAB1K_TASKS
                for stage, name in GENERATOR.swin_config_names(adapter, task).items()}
SWIN_B_BLOCKS = [f'stages.{stage}.blocks.{block}'
                 for stage, depth in enumerate((2, 2, 18, 2)) for block in range(depth)]
# Swin-B's 24 blocks at a tiny width and image size, so that every config builds in a blink with
# the structure the fixed-prune stages are written for.
SWIN_TINY = dict(model=dict(
    backbone=dict(backbone=dict(
        arch=dict(_delete_=True, embed_dims=16, depths=[2, 2, 18, 2], num_heads=[1, 2, 2, 4]),
        img_size=64, window_size=2, init_cfg=None)),
    head=dict(in_channels=128)))


def _tiny_swin(cfg):
    cfg = copy.deepcopy(cfg)
    cfg.merge_from_dict(copy.deepcopy(SWIN_TINY))  # merging consumes _delete_
    return cfg


@functools.lru_cache(maxsize=None)
def _load(path):
    """A config, loaded once per session (callers copy before changing it)."""
    return Config.fromfile(path)


@pytest.mark.parametrize('adapter, task', sorted({key[:2] for key in SWIN_CONFIGS}))
def test_swin_configs_carry_the_recipe_and_build(adapter, task):
    petl = _load(SWIN_CONFIGS[adapter, task, 'petl'])
    inner = petl.model.backbone.backbone
    assert (inner.type, inner.arch, inner.img_size, inner.window_size) == (
        'SwinTransformer', 'base', 224, 7)
    assert inner.init_cfg.type == 'Pretrained'
    assert petl.model.head.in_channels == 1024
    assert petl.model.head.num_classes == VTAB1K_TASKS[task].num_classes
    adapter_cfg = petl.model.backbone.adapter
    published = GENERATOR.PUBLISHED[task]
    assert adapter_cfg.type == ADAPTER_TYPES[adapter] and adapter_cfg.scale == (
        published.repadapter_scale if adapter == 'repadapter' else published.convpass_scale)
    # The PETL recipe and data of the ViT-B/16 configs.
    vit = _load(PETL_CONFIGS[adapter, task])
    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper', 'param_scheduler',
                'train_cfg', 'data_preprocessor'):
        assert petl[key] == vit[key], key
    assert 'custom_hooks' not in petl and petl.load_from is None

    # The SLS stages: the PETL config, its checkpoint, and the hook (the alpha rule of the ViT-B/16
    # SLS stage, or the paper's fixed "prune 2 / 4 layers" through keep).
    hooks = dict(sls=_load(SLS_CONFIGS[adapter, task]).custom_hooks,
                 prune2=[dict(type='mmsls.SLSHook', keep=21)],
                 prune4=[dict(type='mmsls.SLSHook', keep=19)])
    for stage, hook in hooks.items():
        cfg = _load(SWIN_CONFIGS[adapter, task, stage])
        differing = {key for key in set(petl) | set(cfg) if petl.get(key) != cfg.get(key)}
        assert differing == {'load_from', 'custom_hooks'}, stage
        assert cfg.load_from == f'work_dirs/{SWIN_CONFIGS[adapter, task, "petl"].stem}/epoch_100.pth'
        assert cfg.custom_hooks == hook, stage
        HOOKS.build(copy.deepcopy(cfg.custom_hooks[0]))

    # Every stage's model is the PETL config's (checked above): build it, at a tiny size.
    init_default_scope(petl.default_scope)
    model = MODELS.build(_tiny_swin(petl).model)
    adapters = model.backbone.adapters()
    assert len(adapters) == 48  # 24 blocks x (attention, MLP)
    assert {type(a).__name__ for a in adapters} == {ADAPTER_TYPES[adapter]}
    assert {a.scale for a in adapters} == {adapter_cfg.scale}
    assert [unit.name for unit in prunable_units(model)] == SWIN_B_BLOCKS
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64), mode='tensor')
    assert logits.shape == (2, VTAB1K_TASKS[task].num_classes)


@pytest.mark.parametrize('stage, removed', [
    ('prune2', ['stages.2.blocks.17', 'stages.3.blocks.1']),
    ('prune4', ['stages.2.blocks.15', 'stages.2.blocks.16', 'stages.2.blocks.17',
                'stages.3.blocks.1'])])
def test_swin_fixed_prune_stage_removes_the_top_blocks_each_stage_keeps_blocks(stage, removed):
    cfg = _load(SWIN_CONFIGS['convpass', 'kitti', stage])
    init_default_scope(cfg.default_scope)
    model = MODELS.build(_tiny_swin(cfg).model)
    # What the hook does with keep=k: the first k blocks and the first block of every stage stay.
    prune_depth(model, depth_keep(model, cfg.custom_hooks[0].keep))
    kept = [unit.name for unit in prunable_units(model)]
    assert [name for name in SWIN_B_BLOCKS if name not in kept] == removed
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64), mode='tensor')
    assert logits.shape == (2, VTAB1K_TASKS['kitti'].num_classes)


def test_full_size_swin_b_builds_with_only_adapters_and_head_trainable():
    cfg = Config.fromfile(SWIN_CONFIGS['repadapter', 'cifar', 'petl'])
    cfg.model.backbone.backbone.init_cfg = None  # no weights here
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    swin = model.backbone.backbone
    assert [len(stage.blocks) for stage in swin.stages] == [2, 2, 18, 2]
    assert swin.embed_dims == 128
    assert {block.attn.w_msa.window_size for stage in swin.stages for block in stage.blocks} == {
        (7, 7)}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all('.adapter_' in name or name.startswith('head.') for name in trainable)
    assert any(name.startswith('head.') for name in trainable)
