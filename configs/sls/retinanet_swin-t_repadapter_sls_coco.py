# SLS stage 2 for RetinaNet Swin-T + RepAdapter on COCO: load the PETL-trained detector (stage 1,
# ../adapters/retinanet_swin-t_repadapter_coco.py), let SLSHook choose the depth on 1000
# class-balanced ground-truth boxes of the training set (each the mean of a block's tokens inside
# the box) and prune blocks (patch merging and the first block of each stage stay), then re-train
# with the stage-1 schedule.
_base_ = ['../adapters/retinanet_swin-t_repadapter_coco.py']

load_from = 'work_dirs/retinanet_swin-t_repadapter_coco/epoch_12.pth'
custom_hooks = [dict(type='mmsls.SLSHook', alpha=0.3, num_samples=1000, backend='auto',
                     plot_tsne=True)]
