# As vit-b16_repadapter_in1k.py, with Convpass beside attention and MLP of every block.
_base_ = './vit-b16_repadapter_in1k.py'

model = dict(
    backbone=dict(
        adapter=dict(_delete_=True, type='Convpass', hidden_dims=8, dropout=0.1, scale=1.0)))
