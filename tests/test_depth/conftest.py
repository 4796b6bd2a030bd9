"""Tiny real models of each depth family (seconds on a CPU), with random non-trivial weights."""
import pytest
import torch


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter fresh random values (heads start at zero), and switch to eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    model.eval()
    return model


def vit_classifier_cfg(num_layers=4, out_indices=-1):
    """An mmpretrain ImageClassifier with a 4-layer x 64-dim ViT on 32-px images."""
    return dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', img_size=32, patch_size=8, out_indices=out_indices,
                      arch=dict(embed_dims=64, num_layers=num_layers, num_heads=4,
                                feedforward_channels=128)),
        head=dict(type='VisionTransformerClsHead', num_classes=5, in_channels=64))


def setr_cfg():
    """An mmseg SETR-PUP EncoderDecoder: 8-layer ViT, decode head + 3 auxiliary heads.

    ``out_indices`` (2, 4, 6, 7) place the outputs at the relative depths of SETR's (9, 14, 19, 23).
    """
    def head(in_index, num_convs, up_scale):
        return dict(type='SETRUPHead', in_channels=64, channels=16, in_index=in_index, num_classes=4,
                    dropout_ratio=0, norm_cfg=dict(type='BN', requires_grad=True),
                    num_convs=num_convs, up_scale=up_scale, kernel_size=3, align_corners=False,
                    loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4))
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0., 0., 0.], std=[1., 1., 1.]),
        backbone=dict(type='VisionTransformer', img_size=(32, 32), patch_size=8, embed_dims=64,
                      num_layers=8, num_heads=4, mlp_ratio=2, out_indices=(2, 4, 6, 7),
                      final_norm=True, with_cls_token=True,
                      norm_cfg=dict(type='LN', eps=1e-6, requires_grad=True)),
        decode_head=head(3, num_convs=2, up_scale=2),
        auxiliary_head=[head(0, 1, 4), head(1, 1, 4), head(2, 1, 4)],
        train_cfg=dict(), test_cfg=dict(mode='whole'))


def swin_backbone_cfg(**kwargs):
    """An mmdet SwinTransformer, depths (1, 2, 3, 1), 32 dims, window 4, for 64-px images."""
    return dict(type='SwinTransformer', embed_dims=32, depths=(1, 2, 3, 1), num_heads=(1, 2, 4, 8),
                window_size=4, mlp_ratio=2, drop_path_rate=0., out_indices=(1, 2, 3), **kwargs)


def swin_retinanet_cfg():
    """An mmdet RetinaNet on the tiny Swin, with its FPN."""
    return dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[0., 0., 0.], std=[1., 1., 1.]),
        backbone=swin_backbone_cfg(),
        neck=dict(type='FPN', in_channels=[64, 128, 256], out_channels=32, start_level=0,
                  add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(
            type='RetinaHead', num_classes=3, in_channels=32, stacked_convs=1, feat_channels=32,
            anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
                                  ratios=[1.0], strides=[8, 16, 32, 64, 128]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0, .0, .0, .0],
                            target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=10))


def build(scope: str, cfg: dict, seed: int = 0) -> torch.nn.Module:
    """Build ``cfg`` in an OpenMMLab scope, with random weights, in eval mode."""
    from mmengine.registry import DefaultScope, MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return randomise(MODELS.build(cfg), seed)


@pytest.fixture
def vit_classifier():
    return build('mmpretrain', vit_classifier_cfg())


@pytest.fixture
def setr():
    return build('mmseg', setr_cfg())


@pytest.fixture
def swin_retinanet():
    return build('mmdet', swin_retinanet_cfg())
