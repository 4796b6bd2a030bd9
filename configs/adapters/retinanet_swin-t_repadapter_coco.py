# RetinaNet with a frozen Swin-T and RepAdapter before attention and MLP of every block; the
# adapters, FPN and head train. Schedule, data and pre-trained Swin-T weights as in the official
# config.
_base_ = 'mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py'
custom_imports = dict(imports=['mmsls'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmsls.AdaptedBackbone',
        backbone=_base_.model.backbone,
        adapter=dict(type='RepAdapter', hidden_dims=8, groups=2, dropout=0.1, scale=1.0)))
