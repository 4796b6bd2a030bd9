# UPDP (merge) on ConvNeXt-T, ImageNet-1k: 4 of its 18 blocks become a depth-wise 7x7 + one 1x1 conv
# (C -> C) + residual. Fine-tunes the trained ConvNeXt-T for 60 epochs: supernet 10, fade 30, merged
# subnet 20.
_base_ = ['mmpretrain::convnext/convnext-tiny_32xb128_in1k.py', './_base_/imagenet_updp_merge.py']

load_from = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
             'convnext-tiny_32xb128_in1k_20221207-998cf3e9.pth')

# Replaces the official config's EMAHook: its averaged copy would keep the original blocks.
custom_hooks = [dict(_base_.updp_merge_hook,
                     search=dict(_base_.updp_merge_hook.search, num_remove=4))]

optim_wrapper = dict(optimizer=dict(lr=4e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=2, end=60,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=60)
