# SLS stage of setr_vit-l_repadapter_pup_8xb2-160k_ade20k-512x512.py. Starts from its last
# checkpoint (override with --cfg-options load_from=PATH); before re-training, the SLS hook labels
# the patch tokens of a class-balanced training sample by the majority class of the pixels each
# covers, scores each layer by the silhouette of their t-SNE embedding and prunes the layers above
# the kept depth. The auxiliary heads stay: the layers they read are remapped onto surviving layers.
# Re-training: the same optimiser, one cycle of warm-up (16k iterations) + cosine (1-CLR), 160k
# iterations. The paper prunes 6 of ViT-L's 24 layers in one setting (40.59 mIoU, 1.26x) and 8 in
# the other (40.05 mIoU, 1.38x) without publishing the alphas: alpha 0.5 here is the milder setting,
# alpha 0.3 (the sls-alpha0.3 config) the stronger. Check the choice on your run with
# sls_scores.json or tools/analyze_layers.py; the hook's `keep` option fixes the kept depth instead.
_base_ = './setr_vit-l_repadapter_pup_8xb2-160k_ade20k-512x512.py'

load_from = 'work_dirs/setr_vit-l_repadapter_pup_8xb2-160k_ade20k-512x512/iter_160000.pth'
# The SLS sample is the training set loaded without augmentation: resized as for testing, then a
# centre crop of the training input size; annotations load first so that they follow.
sls_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='CenterCrop', crop_size=(512, 512)),
    dict(type='PackSegInputs'),
]
custom_hooks = [
    dict(type='mmsls.SLSHook', alpha=0.5, num_samples=1000, backend='auto',
         pipeline=sls_pipeline)]
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=16000),
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-2, by_epoch=False, begin=16000, end=160000),
]
