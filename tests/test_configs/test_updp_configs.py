"""The UPDP recipes (configs/updp/): they inherit the official configs, their hooks build, and the
search has enough removable blocks in the full-size backbones."""
import pytest
from mmengine.config import Config
from mmengine.registry import HOOKS, MODELS, init_default_scope

from mmsls.depth import prunable_units
from mmsls.hooks import ProgressiveDepthHook
from .recipes import CONFIGS

# Recipe -> (backbone type, blocks it removes, removable blocks of the backbone).
IMAGENET_RECIPES = {
    'deit-tiny_updp-3blocks_in1k.py': ('VisionTransformer', 3, 12),
    'resnet50_updp-3blocks_in1k.py': ('ResNet', 3, 12),
    'convnext-tiny_updp-4blocks_in1k.py': ('ConvNeXt', 4, 14),
}


@pytest.mark.parametrize('recipe', sorted(IMAGENET_RECIPES))
def test_imagenet_recipe_builds_with_its_search(recipe):
    backbone_type, num_remove, removable = IMAGENET_RECIPES[recipe]
    cfg = Config.fromfile(CONFIGS / 'updp' / recipe)
    assert cfg.load_from.startswith('https://download.openmmlab.com/')
    assert [hook['type'] for hook in cfg.custom_hooks] == ['mmsls.ProgressiveDepthHook']
    hook = HOOKS.build(cfg.custom_hooks[0])
    assert isinstance(hook, ProgressiveDepthHook)
    assert hook.search['num_remove'] == num_remove and hook.by == 'epoch'
    assert hook.begin + hook.span < cfg.train_cfg.max_epochs
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == backbone_type
    units = prunable_units(model)
    assert sum(not unit.required for unit in units) == removable


# Merge recipe -> (backbone type, blocks it merges, blocks with a merged form).
MERGE_RECIPES = {
    'deit-tiny_updp-merge-3blocks_in1k.py': ('VisionTransformer', 3, 12),
    'convnext-tiny_updp-merge-4blocks_in1k.py': ('ConvNeXt', 4, 18),
    'mobilenet-v2_updp-merge-4blocks_in1k.py': ('MobileNetV2', 4, 17),
    'resnet34_updp-merge-3blocks_in1k.py': ('ResNet', 3, 16),
}


@pytest.mark.parametrize('recipe', sorted(MERGE_RECIPES))
def test_imagenet_merge_recipe_builds_and_every_block_has_a_merged_form(recipe):
    backbone_type, num_merge, mergeable = MERGE_RECIPES[recipe]
    cfg = Config.fromfile(CONFIGS / 'updp' / recipe)
    assert cfg.load_from.startswith('https://download.openmmlab.com/')
    assert [hook['type'] for hook in cfg.custom_hooks] == ['mmsls.ProgressiveDepthHook']
    hook = HOOKS.build(cfg.custom_hooks[0])
    assert hook.mode == 'merge' and hook.supernet == dict(prob=0.5)
    assert hook.search['num_remove'] == num_merge and hook.by == 'epoch'
    assert 0 < hook.begin and hook.begin + hook.span < cfg.train_cfg.max_epochs
    assert cfg.train_dataloader.dataset.type == 'ImageNet'
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == backbone_type
    from mmsls.depth import find_backbone
    family, _ = find_backbone(model)
    units = prunable_units(model)
    assert sum(family.merge_blocker(unit.module) is None for unit in units) == mergeable == len(units)
    from mmengine.registry import PARAM_SCHEDULERS
    assert all(PARAM_SCHEDULERS.get(scheduler['type']) for scheduler in cfg.param_scheduler)


def test_vtab_sls_progressive_recipe_adds_both_hooks_to_the_petl_config():
    cfg = Config.fromfile(CONFIGS / 'updp/vit-b16_repadapter_sls-progressive_vtab1k-cifar.py')
    petl = Config.fromfile(CONFIGS / 'vtab/repadapter/vit-b16_repadapter_vtab1k-cifar.py')
    assert cfg.model == petl.model and cfg.param_scheduler == petl.param_scheduler
    assert cfg.load_from == 'work_dirs/vit-b16_repadapter_vtab1k-cifar/epoch_100.pth'
    sls, progressive = (HOOKS.build(hook) for hook in cfg.custom_hooks)
    assert type(sls).__name__ == 'SLSHook' and sls.dry_run and sls.alpha == 0.3
    assert cfg.custom_hooks[0].backend == 'auto'  # the paper's criterion (reference on a CPU)
    assert progressive.keep_from == 'mmsls/sls_keep'
    assert progressive.span < cfg.train_cfg.max_epochs
