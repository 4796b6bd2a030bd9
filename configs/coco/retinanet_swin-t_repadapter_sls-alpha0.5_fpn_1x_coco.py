# SLS stage of retinanet_swin-t_repadapter_fpn_1x_coco.py. Starts from its last checkpoint
# (override with --cfg-options load_from=PATH); before re-training, the SLS hook labels each
# ground-truth box of a class-balanced training sample by its category, pools every block's tokens
# inside the box, scores each block by the silhouette of their t-SNE embedding and prunes the blocks
# above the kept depth (every PatchMerging stays; each stage keeps its first block).
# Re-training: the same optimiser, one cycle of warm-up (1 epoch) + cosine (1-CLR), 12 epochs.
# The paper prunes 2 of Swin-T's 12 blocks in one setting (33.2 mAP, 1.22x) and 4 in the other
# (30.7 mAP, 1.43x) without publishing the alphas: alpha 0.5 here is the milder setting, alpha 0.3
# (the sls-alpha0.3 config) the stronger. Check the choice on your run with sls_scores.json or
# tools/analyze_layers.py; the hook's `keep` option fixes the kept depth instead.
_base_ = './retinanet_swin-t_repadapter_fpn_1x_coco.py'

load_from = 'work_dirs/retinanet_swin-t_repadapter_fpn_1x_coco/epoch_12.pth'
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
