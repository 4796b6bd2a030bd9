# The template of the Swin-B VTAB-1k configs (SLS paper, Table 5): mmpretrain's Swin-B (arch 'base',
# 224x224 input, patch 4, window 7) pre-trained on ImageNet-21k, frozen, with one adapter per
# attention and MLP of each of its 24 blocks; only the adapters and the linear head train. Data,
# schedule and runtime are those of the ViT-B/16 template: the paper trains both backbones with the
# same PETL recipe. tools/gen_vtab_configs.py writes the per-task configs from it. Not runnable by
# itself.
_base_ = ['./vit-b16_vtab1k.py']

# The ImageNet-21k Swin-B (224 px, window 7) in mmpretrain's key names, at a local path
# (mmpretrain's swin-base_3rdparty_in21k.pth; docs/recipes.md says how to get the weights); override
# with --cfg-options model.backbone.backbone.init_cfg.checkpoint=PATH.
pretrained = 'pretrain/swin-base_3rdparty_in21k.pth'

model = dict(
    _delete_=True,
    type='ImageClassifier',
    backbone=dict(
        type='mmsls.AdaptedBackbone',
        backbone=dict(
            type='SwinTransformer',
            arch='base',
            img_size=224,
            window_size=7,
            drop_path_rate=0.1,  # the PETL recipes regularise with drop-path only
            init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'))),
    neck=dict(type='GlobalAveragePooling'),
    # A linear head, cross-entropy without label smoothing, as in the published code.
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=1024,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)),
)
