# A tiny SETR-PUP (ViT + SETRUPHead decode head + three auxiliary heads) in the mmseg scope, on the
# set written by mmsls.datasets.tiny.write_tiny_ade20k('data/tiny_ade'). Same structure as the official
# setr_vit-l_pup_8xb2-160k_ade20k-512x512.py: four outputs, decode head on the last, aux heads on 0-2.
_base_ = ['./_runtime.py']
default_scope = 'mmseg'
data_root = 'data/tiny_ade'
num_classes = 4
# The first four ADE20K classes; ADE20KDataset maps them onto 0..3.
classes = ('wall', 'building', 'sky', 'floor')
crop_size = (64, 64)
norm_cfg = dict(type='BN', requires_grad=True)

def _up_head(in_index, num_convs, up_scale, loss_weight):  # noqa: E306
    return dict(type='SETRUPHead', in_channels=64, channels=32, in_index=in_index,
                num_classes=num_classes, dropout_ratio=0, norm_cfg=norm_cfg, num_convs=num_convs,
                up_scale=up_scale, kernel_size=3, align_corners=False,
                loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                 loss_weight=loss_weight))

model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size=crop_size),
    backbone=dict(
        type='VisionTransformer', img_size=crop_size, patch_size=8, in_channels=3,
        embed_dims=64, num_layers=6, num_heads=4, out_indices=(1, 2, 4, 5), drop_rate=0.,
        norm_cfg=dict(type='LN', eps=1e-6, requires_grad=True), with_cls_token=True,
        interpolate_mode='bilinear'),
    decode_head=_up_head(3, num_convs=3, up_scale=2, loss_weight=1.0),
    auxiliary_head=[_up_head(i, num_convs=1, up_scale=8, loss_weight=0.4) for i in range(3)],
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
)
del _up_head
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ADE20KDataset', data_root=data_root, metainfo=dict(classes=classes),
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ADE20KDataset', data_root=data_root, metainfo=dict(classes=classes),
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
