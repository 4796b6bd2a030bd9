# The template of every VTAB-1k config: ViT-B/16 pre-trained on ImageNet-21k, frozen, with one
# adapter per attention and MLP; only the adapters and the linear head train. The PETL recipe of
# RepAdapter, Convpass and SLS: 224x224 resize + ImageNet normalisation, AdamW lr 1e-3, wd 1e-4,
# batch 64, 100 epochs (10 of linear warm-up, then cosine to 1e-5), train on train800val200, test
# on test. tools/gen_vtab_configs.py writes the per-task configs from it: they add the adapter, the
# task and its number of classes. Not runnable by itself.
_base_ = [
    'mmpretrain::_base_/models/vit-base-p16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmsls'], allow_failed_imports=False)

# The ImageNet-21k ViT-B/16 in mmpretrain's key names, at a local path (docs/recipes.md says how to
# get it); override with --cfg-options model.backbone.backbone.init_cfg.checkpoint=PATH.
pretrained = 'pretrain/vit-base-p16_in21k.pth'
# One folder per task (docs/recipes.md: VTAB-1k layout).
data_root = 'data/vtab-1k'

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmsls.AdaptedBackbone',
        backbone=dict(
            _base_.model.backbone,
            drop_rate=0.,  # the PETL recipes regularise with drop-path only
            drop_path_rate=0.1,
            init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'))),
    # A linear head, cross-entropy without label smoothing, as in the published code.
    head=dict(hidden_dim=None, loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0)),
)
data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

# The published transform: a bicubic resize of the whole image to 224x224, nothing else.
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), interpolation='bicubic', backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='mmsls.VTAB1k', data_root=data_root, split='train800val200',
                 pipeline=pipeline))
# As in the published recipes, the test split is also what the periodic validation reports.
val_dataloader = dict(
    batch_size=256,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='mmsls.VTAB1k', data_root=data_root, split='test', test_mode=True,
                 pipeline=pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()

# Keep the last checkpoint only (the SLS stage loads it): 10 full ViT-B checkpoints take 3.3 GB.
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=10, max_keep_ckpts=1))
randomness = dict(seed=42)
