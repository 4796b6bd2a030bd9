# UPDP (merge) on MobileNetV2, ImageNet-1k: 4 of its 17 inverted residuals become one dense 3x3 conv
# (Cin -> Cout, the block's stride). Every block may be chosen, the stride-2 and channel-changing
# ones too (removal refuses those). Fine-tunes the trained MobileNetV2 for 60 epochs: supernet 10,
# fade 30, merged subnet 20.
_base_ = ['mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py', './_base_/imagenet_updp_merge.py']

load_from = ('https://download.openmmlab.com/mmclassification/v0/mobilenet_v2/'
             'mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth')

custom_hooks = [dict(_base_.updp_merge_hook,
                     search=dict(_base_.updp_merge_hook.search, num_remove=4))]

optim_wrapper = dict(optimizer=dict(lr=0.0045))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=60, by_epoch=True, eta_min=1e-5)]
train_cfg = dict(max_epochs=60)
