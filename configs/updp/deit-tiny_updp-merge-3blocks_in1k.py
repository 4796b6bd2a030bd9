# UPDP (merge) on DeiT-Tiny, ImageNet-1k (the paper's headline: 1.26x faster for -1.9% top-1): 3 of
# the 12 blocks become one Linear(192, 192) each. Fine-tunes the trained DeiT-Tiny for 100 epochs:
# supernet 10, fade 30, merged subnet 60.
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py', './_base_/imagenet_updp_merge.py']

load_from = ('https://download.openmmlab.com/mmclassification/v0/deit/'
             'deit-tiny_pt-4xb256_in1k_20220218-13b382a0.pth')

custom_hooks = [dict(_base_.updp_merge_hook,
                     search=dict(_base_.updp_merge_hook.search, num_remove=3))]

optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)
