# The SLS stage of vit_repadapter_parity.py, with the settings of vit_repadapter_quadrant_sls.py and
# a shorter re-training: 10 epochs, 1 of warm-up, then cosine.
_base_ = ['./vit_repadapter_parity.py']
load_from = 'work_dirs/vit_repadapter_parity/epoch_20.pth'
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
