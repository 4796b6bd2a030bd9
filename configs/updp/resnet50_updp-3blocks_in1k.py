# UPDP on ResNet-50, ImageNet-1k: remove 3 of the 12 removable Bottleneck blocks (the first block of
# each stage downsamples and always stays). Fine-tunes the trained ResNet-50 for 60 epochs: the
# blocks fade out over the first 30 (the ReLU after each block's addition means the fade blends the
# block's output towards its input; exact at both ends), the subnet trains for the other 30.
_base_ = ['mmpretrain::resnet/resnet50_8xb32_in1k.py', './_base_/imagenet_updp.py']

load_from = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
             'resnet50_8xb32_in1k_20210831-ea4938fc.pth')

custom_hooks = [dict(_base_.updp_hook, search=dict(_base_.updp_hook.search, num_remove=3))]

optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True,
                        begin=0, end=60, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=60)
