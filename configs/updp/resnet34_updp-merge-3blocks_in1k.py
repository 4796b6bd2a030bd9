# UPDP (merge) on ResNet-34, ImageNet-1k: 3 of its 16 BasicBlocks lose their ReLUs and have their
# BatchNorms folded (two 3x3 convs + shortcut). A BasicBlock has no cheaper exact merged form (one 5x5
# conv would cost 25/18 of its two 3x3 convs): the gain is the ReLUs and BatchNorms only (see
# docs/updp.md). Fine-tunes the trained ResNet-34 for 60 epochs: supernet 10, fade 30, subnet 20.
_base_ = ['mmpretrain::resnet/resnet34_8xb32_in1k.py', './_base_/imagenet_updp_merge.py']

load_from = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
             'resnet34_8xb32_in1k_20210831-f257d4e6.pth')

custom_hooks = [dict(_base_.updp_merge_hook,
                     search=dict(_base_.updp_merge_hook.search, num_remove=3))]

optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=60, by_epoch=True, eta_min=1e-5)]
train_cfg = dict(max_epochs=60)
