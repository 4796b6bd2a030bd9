# Shared part of the demo configs: a small ViT (mmpretrain) on scikit-learn's bundled handwritten
# digits (mmsls.DigitsDataset: 1347 train / 450 test digits, no download). Images (8x8 digits, or
# the 16x16 canvases of the 'quadrant' task) are resized to 32x32 px and cut into 4x4 patches of
# 8x8 px. CPU, seeded, reproducible run to run.
custom_imports = dict(imports=['mmsls'], allow_failed_imports=False)
default_scope = 'mmpretrain'
task = 'digit'
num_classes = 10
image_size = 32
embed_dims = 64

vit = dict(
    type='VisionTransformer',
    arch=dict(embed_dims=embed_dims, num_layers=8, num_heads=4,
              feedforward_channels=4 * embed_dims),
    img_size=image_size, patch_size=8, out_type='cls_token', drop_rate=0.0, drop_path_rate=0.1)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=num_classes, mean=[127.5] * 3, std=[127.5] * 3),
    backbone=vit,
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=num_classes, in_channels=embed_dims,
              loss=dict(type='CrossEntropyLoss')),
)

# A flipped digit is no digit, so the only augmentation is a small translation.
train_pipeline = [
    dict(type='Resize', scale=(image_size, image_size)),
    dict(type='RandomCrop', crop_size=image_size, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='Resize', scale=(image_size, image_size)), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='mmsls.DigitsDataset', split='train', task=task, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='mmsls.DigitsDataset', split='test', task=task, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 30
warmup_epochs = 3
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=warmup_epochs,
         end=max_epochs, convert_to_iter_based=True),
]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # An epoch has 22 iterations: one log line per epoch.
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Only the last epoch's checkpoint (save_last).
    checkpoint=dict(type='CheckpointHook', interval=-1, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
