# UPDP on DeiT-Tiny, ImageNet-1k (the paper's headline: 1.26x faster for -1.9% top-1): remove 3 of
# the 12 blocks. Fine-tunes the trained DeiT-Tiny for 100 epochs: the 3 blocks fade out over the
# first 30, the 9-block model trains for the other 70.
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py', './_base_/imagenet_updp.py']

load_from = ('https://download.openmmlab.com/mmclassification/v0/deit/'
             'deit-tiny_pt-4xb256_in1k_20220218-13b382a0.pth')

custom_hooks = [dict(_base_.updp_hook, search=dict(_base_.updp_hook.search, num_remove=3))]

# Fine-tuning from a trained model: half the from-scratch learning rate, a short warm-up, cosine.
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)
