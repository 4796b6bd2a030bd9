# SETR-PUP with a frozen ViT-L and RepAdapter before attention and MLP of every block; the adapters,
# the backbone's biases (the RepAdapter segmentation recipe) and the decode/auxiliary heads train.
# Schedule, data and pre-trained weights as in the official config.
_base_ = 'mmseg::setr/setr_vit-l_pup_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmsls'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmsls.AdaptedBackbone',
        backbone=_base_.model.backbone,
        adapter=dict(type='RepAdapter', hidden_dims=8, groups=2, dropout=0.1, scale=1.0),
        train_bias=True))
