# As retinanet_swin-t_repadapter_coco.py, with Convpass beside attention and MLP of every block.
_base_ = './retinanet_swin-t_repadapter_coco.py'

model = dict(
    backbone=dict(
        adapter=dict(_delete_=True, type='Convpass', hidden_dims=8, dropout=0.1, scale=1.0)))
