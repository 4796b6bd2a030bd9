# As retinanet_swin-t_repadapter_sls-alpha0.5_fpn_1x_coco.py with the stronger setting: alpha 0.3
# (the paper's VTAB-1k value) lowers the threshold, so SLS keeps fewer blocks (the paper's stronger
# detection result prunes 4 of 12 blocks).
_base_ = './retinanet_swin-t_repadapter_sls-alpha0.5_fpn_1x_coco.py'

custom_hooks = [dict(_base_.custom_hooks[0], alpha=0.3)]
