# Demo stages (c) and (d): SLS on the PETL model of vit_repadapter_parity.py. Before re-training,
# the hook captures each layer's cls token on 500 (unaugmented) training images, scores the layers
# by the silhouette of their 2-D t-SNE embedding grouped by parity, keeps the layers down to the
# first that scores below alpha x the top layer's score (alpha = 0.3, the paper's value), prunes the
# rest and writes sls_scores.json, sls_scores.png and sls_tsne.png to the work dir. Re-training of
# the adapters and the head then runs one short warm-up + cosine cycle (1-CLR) from the loaded ones.
_base_ = ['./vit_repadapter_parity.py']
# tools/demo.py passes its own PETL checkpoint with --cfg-options load_from=PATH.
load_from = 'work_dirs/demo/petl/epoch_20.pth'
max_epochs = 10
warmup_epochs = 1

custom_hooks = [
    dict(type='mmsls.SLSHook', alpha=0.3, num_samples=500, backend='sklearn', seed=0,
         pipeline={{_base_.test_pipeline}}, plot_tsne=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, convert_to_iter_based=True),
]
