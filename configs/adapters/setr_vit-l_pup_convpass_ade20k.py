# As setr_vit-l_pup_repadapter_ade20k.py, with Convpass beside attention and MLP of every block.
_base_ = './setr_vit-l_pup_repadapter_ade20k.py'

model = dict(
    backbone=dict(
        adapter=dict(_delete_=True, type='Convpass', hidden_dims=8, dropout=0.1, scale=1.0)))
