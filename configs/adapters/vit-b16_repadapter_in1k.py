# ViT-B/16 (ImageNet-21k pre-trained) with RepAdapter on attention and MLP of every block; only
# the adapters and the linear head train. Optimiser: the paper's recipe (AdamW lr 1e-3, wd 1e-4,
# batch 64, 100 epochs: 10 of linear warm-up, then cosine to 1e-5). Swap the dataset for your
# downstream task.
_base_ = 'mmpretrain::vision_transformer/vit-base-p16_64xb64_in1k.py'
custom_imports = dict(imports=['mmsls'], allow_failed_imports=False)

pretrained = 'https://download.openmmlab.com/mmclassification/v0/vit/pretrain/vit-base-p16_3rdparty_pt-64xb64_in1k-224_20210928-02284250.pth'  # noqa: E501
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmsls.AdaptedBackbone',
        backbone=dict(
            _base_.model.backbone,
            drop_rate=0.,  # the PETL recipes regularise with drop-path only
            drop_path_rate=0.1,
            init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone')),
        adapter=dict(type='RepAdapter', hidden_dims=8, groups=2, dropout=0.1, scale=1.0)),
    head=dict(hidden_dim=None),  # a linear head, as in the paper
    train_cfg=None,  # no Mixup
)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
train_dataloader = dict(batch_size=64)
auto_scale_lr = dict(base_batch_size=64)
