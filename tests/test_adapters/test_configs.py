"""The example configs in configs/adapters/: they inherit the official configs and build."""
import copy
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from mmsls.adapters import AdaptedBackbone, Convpass, RepAdapter, count_parameters
from ..conftest import REPO

CONFIGS = REPO / 'configs/adapters'
# name -> (default scope, adapter class)
EXAMPLES = {
    'vit-b16_repadapter_in1k.py': ('mmpretrain', RepAdapter),
    'vit-b16_convpass_in1k.py': ('mmpretrain', Convpass),
    'retinanet_swin-t_repadapter_coco.py': ('mmdet', RepAdapter),
    'retinanet_swin-t_convpass_coco.py': ('mmdet', Convpass),
    'setr_vit-l_pup_repadapter_ade20k.py': ('mmseg', RepAdapter),
    'setr_vit-l_pup_convpass_ade20k.py': ('mmseg', Convpass),
}


def _shrink(model_cfg, scope):
    """The official model at tiny widths (the inherited structure is kept) and without the
    pre-trained checkpoint download."""
    cfg = copy.deepcopy(model_cfg)
    inner = cfg.backbone.backbone
    inner.pop('init_cfg')
    if scope == 'mmpretrain':
        inner.update(arch=dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=128),
                     img_size=32)
        cfg.head.in_channels = 64
    elif scope == 'mmdet':
        inner.update(embed_dims=16, num_heads=[1, 2, 4, 8])
        cfg.neck.in_channels = [32, 64, 128]
    else:
        inner.update(embed_dims=64, num_heads=4, img_size=(64, 64))  # keeps its 24 layers
        for head in [cfg.decode_head, *cfg.auxiliary_head]:
            head.in_channels = 64
    return cfg


@pytest.mark.parametrize('name', list(EXAMPLES))
def test_example_configs_build(name):
    scope, adapter_cls = EXAMPLES[name]
    cfg = Config.fromfile(CONFIGS / name)
    assert cfg.default_scope == scope and 'mmsls' in cfg.custom_imports.imports
    assert cfg.model.backbone.type == 'mmsls.AdaptedBackbone'
    assert cfg.model.backbone.backbone.init_cfg.type == 'Pretrained'  # from the official config
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(_shrink(cfg.model, scope))
    assert isinstance(model.backbone, AdaptedBackbone)
    adapters = model.backbone.adapters()
    assert adapters and all(type(a) is adapter_cls for a in adapters)
    side = 32 if scope == 'mmpretrain' else 64
    model.eval()
    with torch.no_grad():
        features = model.extract_feat(torch.randn(1, 3, side, side))
    assert all(torch.isfinite(f).all() for f in features)


def test_classification_recipe():
    cfg = Config.fromfile(CONFIGS / 'vit-b16_repadapter_in1k.py')
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-3, weight_decay=1e-4)
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and (warmup.begin, warmup.end) == (0, 10)
    assert cosine.type == 'CosineAnnealingLR' and (cosine.begin, cosine.end) == (10, 100)
    assert cosine.eta_min == 1e-5 and cfg.train_cfg.max_epochs == 100


def test_segmentation_recipe_trains_biases():
    cfg = Config.fromfile(CONFIGS / 'setr_vit-l_pup_repadapter_ade20k.py')
    assert cfg.model.backbone.train_bias is True
    assert cfg.model.backbone.backbone.out_indices == (9, 14, 19, 23)


def test_full_size_vit_b16_classifier_builds_with_only_adapters_and_head_trainable():
    cfg = Config.fromfile(CONFIGS / 'vit-b16_repadapter_in1k.py')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.backbone.pop('init_cfg')  # no download; the structure is the official one
    start = time.perf_counter()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    assert time.perf_counter() - start < 20
    # Per adapter: down 768*8+8, grouped up 768*4+768; two per block, 12 blocks.
    # Head: 768*1000+1000.
    adapters = 24 * (768 * 8 + 8 + 768 * 4 + 768)
    assert count_parameters(model).trainable == adapters + 768 * 1000 + 1000
    assert count_parameters(model.backbone).total - adapters == 85_798_656  # plain ViT-B/16
