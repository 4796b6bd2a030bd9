"""AdaptedBackbone inside whole models of each task (mmpretrain ImageClassifier, mmdet RetinaNet,
mmseg EncoderDecoder), built from the project's tiny configs with hand-made data samples."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner.checkpoint import load_checkpoint
from mmengine.structures import InstanceData, PixelData

from mmsls.adapters import merge_adapters
from .tiny_models import ADAPTERS, max_relative_error

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIGS = {
    'mmpretrain': REPO / 'configs/_tiny_/vit_cls.py',
    'mmdet': REPO / 'configs/_tiny_/swin_retinanet.py',
    'mmseg': REPO / 'configs/_tiny_/setr_vit.py',
}
IMAGE_SIZE = {'mmpretrain': 32, 'mmdet': 64, 'mmseg': 64}


def _build(scope, adapter=None, **wrapper_args):
    """The tiny model of ``scope``; with ``adapter``, its backbone wrapped in AdaptedBackbone."""
    cfg = Config.fromfile(TINY_CONFIGS[scope])
    model_cfg = copy.deepcopy(cfg.model)
    if adapter is not None:
        model_cfg.backbone = dict(type='mmsls.AdaptedBackbone', backbone=model_cfg.backbone,
                                  adapter=ADAPTERS[adapter], **wrapper_args)
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(model_cfg)
        model.init_weights()
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim_wrapper


def _batch(scope, size=2):
    """A batch as the dataloader delivers it: uint8 images and data samples with labels."""
    side = IMAGE_SIZE[scope]
    inputs = [torch.randint(0, 256, (3, side, side), dtype=torch.uint8) for _ in range(size)]
    meta = dict(img_shape=(side, side), ori_shape=(side, side), scale_factor=(1., 1.))
    if scope == 'mmpretrain':
        from mmpretrain.structures import DataSample
        samples = [DataSample().set_gt_label(i % 3) for i in range(size)]
    elif scope == 'mmdet':
        from mmdet.structures import DetDataSample
        samples = []
        for i in range(size):
            sample = DetDataSample(metainfo=meta)
            sample.gt_instances = InstanceData(
                bboxes=torch.tensor([[4., 6., 40., 50.], [20., 10., 60., 30.]]),
                labels=torch.tensor([i % 3, 2]))
            samples.append(sample)
    else:
        from mmseg.structures import SegDataSample
        samples = []
        for _ in range(size):
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, side, side)))
            samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _features(model, scope):
    """The features the heads read (backbone, or FPN for RetinaNet) on a random normalised batch.

    Not the head outputs: the tiny classifier's head starts at zero.
    """
    side = IMAGE_SIZE[scope]
    inputs = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        return list(model.extract_feat(inputs))


@pytest.mark.parametrize('scope', list(TINY_CONFIGS))
@pytest.mark.parametrize('adapter', list(ADAPTERS))
def test_two_training_iterations_change_only_adapters_and_heads(scope, adapter):
    model, optim_wrapper = _build(scope, adapter)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.train()
    for _ in range(2):
        losses = model.train_step(_batch(scope), optim_wrapper)
        assert all(torch.isfinite(v) for v in losses.values())
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}

    adapters = {name for name in before if '.adapter_attn.' in name or '.adapter_mlp.' in name}
    backbone = {name for name in before if name.startswith('backbone.')}
    heads = set(before) - backbone  # classifier head / FPN + RetinaHead / decode + auxiliary
    assert changed & backbone <= adapters
    assert heads and heads <= changed
    # Every adapter's zero-initialised up projection has moved (A and the hidden bias get their
    # first gradient once B is non-zero, which a zero-initialised classifier head delays).
    up_weights = {name for name in adapters if name.endswith('.up.weight')}
    assert up_weights and up_weights <= changed


@pytest.mark.parametrize('scope', list(TINY_CONFIGS))
def test_train_bias_also_trains_backbone_biases(scope):
    model, optim_wrapper = _build(scope, 'RepAdapter', train_bias=True)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.train()
    for _ in range(2):
        model.train_step(_batch(scope), optim_wrapper)
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    backbone = {name for name in before if name.startswith('backbone.')}
    biases = {name for name in backbone if name.endswith('bias') and '.adapter_' not in name}
    assert biases and biases <= changed
    frozen = backbone - biases - {name for name in backbone if '.adapter_' in name}
    assert frozen and not frozen & changed


@pytest.mark.parametrize('scope', list(TINY_CONFIGS))
def test_plain_model_checkpoint_loads_into_the_adapted_model(scope, tmp_path):
    """``load_from`` a checkpoint of the plain model: no missing backbone keys, same outputs."""
    plain, _ = _build(scope)
    plain.requires_grad_(False)  # frozen like the wrapped backbone (see test_adapted_backbone)
    path = tmp_path / 'plain.pth'
    torch.save({'meta': {}, 'state_dict': plain.state_dict()}, path)

    model, _ = _build(scope, 'RepAdapter')
    result = model.load_state_dict(plain.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all('.adapter_' in key for key in result.missing_keys)

    model, _ = _build(scope, 'Convpass')
    load_checkpoint(model, str(path), map_location='cpu', strict=False)
    adapted = model.state_dict()
    assert all(torch.equal(adapted[key], value) for key, value in plain.state_dict().items())
    assert max_relative_error(_features(plain, scope), _features(model, scope)) == 0


@pytest.mark.parametrize('scope', list(TINY_CONFIGS))
def test_merge_in_the_whole_model(scope):
    model, optim_wrapper = _build(scope, 'RepAdapter')
    model.train()
    for _ in range(2):
        model.train_step(_batch(scope), optim_wrapper)
    trained = _features(model, scope)
    assert merge_adapters(model) > 0
    assert max_relative_error(trained, _features(model, scope)) < 1e-5
