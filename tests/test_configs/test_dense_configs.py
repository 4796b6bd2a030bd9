"""The COCO (RetinaNet Swin-T) and ADE20K (SETR-PUP) recipe configs: what each stage sets, and every
one builds."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from .recipes import CONFIGS, DENSE_RECIPES, shrink, task_of

PETL_CONFIGS = sorted(DENSE_RECIPES)
SLS_CONFIGS = sorted(sls for stage2 in DENSE_RECIPES.values() for sls in stage2)


def _load(relative: str) -> Config:
    return Config.fromfile(CONFIGS / relative)


def test_every_config_of_the_dense_folders_is_a_known_recipe():
    on_disk = {str(path.relative_to(CONFIGS)) for folder in ('coco', 'ade20k')
               for path in (CONFIGS / folder).glob('*.py')}
    assert on_disk == set(PETL_CONFIGS) | set(SLS_CONFIGS)


def _forward(model):
    model.eval()
    with torch.no_grad():
        return model(torch.randn(1, 3, 64, 64), mode='tensor')


@pytest.mark.parametrize('relative', PETL_CONFIGS + SLS_CONFIGS)
def test_config_builds_when_shrunk(relative):
    cfg = _load(relative)
    task = task_of(relative)
    assert cfg.model.backbone.type == 'mmsls.AdaptedBackbone'
    init_default_scope(cfg.default_scope)
    model = MODELS.build(shrink(cfg, task).model)
    num_blocks = 5 if task == 'coco' else 6
    assert len(model.backbone.adapters()) == 2 * num_blocks
    adapter_types = {type(adapter).__name__ for adapter in model.backbone.adapters()}
    assert adapter_types == {cfg.model.backbone.adapter.type}
    outputs = _forward(model)
    if task == 'coco':  # RetinaNet: (cls scores, box deltas) per FPN level
        cls_scores, _ = outputs
        assert len(cls_scores) == 5 and cls_scores[0].shape[1] == 9 * 3
    else:  # SETR-PUP: class logits
        assert outputs.shape[:2] == (1, 4)


@pytest.mark.parametrize('petl', PETL_CONFIGS)
def test_petl_stage_trains_adapters_and_heads_only(petl):
    cfg = _load(petl)
    assert 'custom_hooks' not in cfg and cfg.load_from is None
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 1
    init_default_scope(cfg.default_scope)
    model = MODELS.build(shrink(cfg, task_of(petl)).model)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    backbone_trainable = {name for name in trainable if name.startswith('backbone.')}
    adapters = {name for name in backbone_trainable if '.adapter_' in name}
    assert adapters and trainable - backbone_trainable  # the neck/heads train
    if task_of(petl) == 'ade20k':
        # The RepAdapter segmentation recipe also trains the backbone's biases.
        assert backbone_trainable - adapters
        assert all(name.endswith('bias') for name in backbone_trainable - adapters)
    else:
        assert backbone_trainable == adapters


@pytest.mark.parametrize('petl, sls', [(petl, sls) for petl, stage2 in DENSE_RECIPES.items()
                                       for sls in stage2])
def test_sls_stage_is_the_petl_stage_plus_load_from_hook_and_1clr(petl, sls):
    petl_cfg, sls_cfg = _load(petl), _load(sls)
    alpha = float(Path(sls).name.split('sls-alpha')[1].split('_')[0])
    hook, = sls_cfg.custom_hooks
    assert (hook.type, hook.alpha, hook.num_samples, hook.backend) == (
        'mmsls.SLSHook', alpha, 1000, 'auto')
    # An unaugmented sample whose annotations load before any geometric transform.
    assert hook.pipeline == sls_cfg.sls_pipeline
    types = [transform.type for transform in hook.pipeline]
    assert types.index('LoadAnnotations') < types.index('Resize')
    assert not {'RandomFlip', 'RandomCrop', 'RandomResize', 'PhotoMetricDistortion'} & set(types)
    checkpoint = 'epoch_12.pth' if task_of(petl) == 'coco' else 'iter_160000.pth'
    assert sls_cfg.load_from == f'work_dirs/{Path(petl).stem}/{checkpoint}'
    warmup, cosine = sls_cfg.param_scheduler
    assert (warmup.type, warmup.begin, cosine.type, cosine.eta_min_ratio) == (
        'LinearLR', 0, 'CosineAnnealingLR', 1e-2)
    assert warmup.end == cosine.begin and warmup.by_epoch == cosine.by_epoch
    length = petl_cfg.train_cfg.get('max_epochs', petl_cfg.train_cfg.get('max_iters'))
    assert cosine.end == length  # one cycle over the PETL stage's length
    differing = {key for key in set(petl_cfg) | set(sls_cfg)
                 if petl_cfg.get(key) != sls_cfg.get(key)}
    assert differing == {'load_from', 'custom_hooks', 'param_scheduler', 'sls_pipeline'}


def test_the_two_alphas_of_a_recipe_order_their_pruning():
    # A lower alpha lowers the threshold alpha x SC_top, so SLS keeps fewer layers.
    for stage2 in DENSE_RECIPES.values():
        mild, strong = (_load(sls).custom_hooks[0].alpha for sls in stage2)
        assert mild > strong


def test_evaluation_uses_the_official_metrics_and_tta():
    coco = _load('coco/retinanet_swin-t_repadapter_fpn_1x_coco.py')
    assert coco.val_evaluator.type == 'CocoMetric' and coco.val_evaluator.metric == 'bbox'
    ade = _load('ade20k/setr_vit-l_repadapter_pup_8xb2-160k_ade20k-512x512.py')
    assert ade.test_evaluator.type == 'IoUMetric' and ade.test_evaluator.iou_metrics == ['mIoU']
    assert ade.tta_model.type == 'SegTTAModel'
    scales = ade.tta_pipeline[1].transforms[0]
    assert [t.scale_factor for t in scales] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


@pytest.mark.parametrize('relative, units', [
    ('coco/retinanet_swin-t_repadapter_fpn_1x_coco.py', 12),
    ('ade20k/setr_vit-l_repadapter_pup_8xb2-160k_ade20k-512x512.py', 24),
])
def test_full_size_model_builds(relative, units):
    from mmsls.depth import prunable_units
    cfg = _load(relative)
    cfg.model.backbone.backbone.init_cfg = None  # no weights here
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert len(prunable_units(model)) == units
    assert len(model.backbone.adapters()) == 2 * units
