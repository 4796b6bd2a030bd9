# As retinanet_swin-t_repadapter_fpn_1x_coco.py with Convpass beside attention and MLP of every
# block (the paper's detection results use RepAdapter; this is the same recipe for the other
# adapter).
_base_ = '../adapters/retinanet_swin-t_convpass_coco.py'

default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
