# PETL stage of the paper's detection recipe: RetinaNet, frozen Swin-T (ImageNet-1k weights of the
# official config) with RepAdapter before attention and MLP of every block; the adapters, the FPN
# and the head train. Data (data/coco/), schedule (1x, 12 epochs) and metric (CocoMetric, bbox) are
# the official config's. Next: retinanet_swin-t_repadapter_sls-alpha0.5_fpn_1x_coco.py.
_base_ = '../adapters/retinanet_swin-t_repadapter_coco.py'

# Keep the last checkpoint only; the SLS stage loads it.
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
