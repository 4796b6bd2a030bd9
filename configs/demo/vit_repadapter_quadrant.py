# Demo stage (b): parameter-efficient transfer of the pre-trained ViT to the target task: where the
# digit is (mmsls.DigitsDataset task 'quadrant': each digit drawn in a random quadrant of a black
# canvas twice its size; 4 classes). A geometric task, like VTAB's structured ones: the deep layers,
# trained to tell the ten digits apart, become redundant. The backbone stays frozen; only the
# RepAdapters (before the attention and the MLP of each of the 8 layers) and the new head train.
_base_ = ['./_digits_vit.py']
task = 'quadrant'
num_classes = 4
# tools/demo.py passes its own pre-training checkpoint with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
pretrained = 'work_dirs/demo/pretrain/epoch_30.pth'
max_epochs = 20
warmup_epochs = 2

model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    backbone=dict(
        _delete_=True,
        type='mmsls.AdaptedBackbone',
        backbone={{_base_.vit}},
        adapter=dict(type='RepAdapter', hidden_dims=8, scale=1.0),
        placement='attn_mlp',
        # The backbone weights of the pre-trained classifier (its keys under `backbone.`).
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(num_classes=num_classes),
)
train_dataloader = dict(dataset=dict(task=task))
val_dataloader = dict(dataset=dict(task=task))
test_dataloader = val_dataloader

# The paper trains adapters 100 epochs at lr 1e-3; this short schedule needs a larger step.
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=5e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, convert_to_iter_based=True),
]
