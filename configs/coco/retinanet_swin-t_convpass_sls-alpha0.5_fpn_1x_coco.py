# SLS stage of retinanet_swin-t_convpass_fpn_1x_coco.py: the recipe of
# retinanet_swin-t_repadapter_sls-alpha0.5_fpn_1x_coco.py (see there) for the Convpass model. The
# paper reports detection with RepAdapter only, so there are no published numbers to compare with.
_base_ = './retinanet_swin-t_convpass_fpn_1x_coco.py'

load_from = 'work_dirs/retinanet_swin-t_convpass_fpn_1x_coco/epoch_12.pth'
# The SLS sample is the training set loaded without augmentation (the training pipeline, no flip).
sls_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='PackDetInputs'),
]
custom_hooks = [
    dict(type='mmsls.SLSHook', alpha=0.5, num_samples=1000, backend='auto',
         pipeline=sls_pipeline)]
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-2, by_epoch=True, begin=1, end=12,
         convert_to_iter_based=True),
]
