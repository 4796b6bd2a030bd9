# A tiny ViT classifier in the mmpretrain scope, on the set written by
# mmsls.datasets.tiny.write_tiny_classification('data/tiny_cls').
_base_ = ['./_runtime.py']
default_scope = 'mmpretrain'
data_root = 'data/tiny_cls'
num_classes = 3
classes = ('class_0', 'class_1', 'class_2')

data_preprocessor = dict(num_classes=num_classes, mean=[127.5, 127.5, 127.5],
                         std=[127.5, 127.5, 127.5], to_rgb=True)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128),
        img_size=32, patch_size=8, out_type='cls_token', drop_rate=0.0),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=num_classes, in_channels=64,
              loss=dict(type='CrossEntropyLoss')),
)
train_pipeline = [dict(type='LoadImageFromFile'),
                  dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                  dict(type='PackInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root=data_root, ann_file='meta/train.txt',
                 data_prefix='train', metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root=data_root, ann_file='meta/test.txt',
                 data_prefix='test', metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
