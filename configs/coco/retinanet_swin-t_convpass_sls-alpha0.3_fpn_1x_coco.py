# As retinanet_swin-t_convpass_sls-alpha0.5_fpn_1x_coco.py with alpha 0.3: SLS keeps fewer blocks.
_base_ = './retinanet_swin-t_convpass_sls-alpha0.5_fpn_1x_coco.py'

custom_hooks = [dict(_base_.custom_hooks[0], alpha=0.3)]
