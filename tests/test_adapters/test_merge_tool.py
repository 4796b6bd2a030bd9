"""tools/merge_adapters.py: CONFIG CHECKPOINT OUT -> a plain model's config and weights."""
import copy
import importlib.util

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner.checkpoint import load_checkpoint

from ..conftest import REPO, TINY_CONFIGS, run_tool
from .tiny_models import max_relative_error, randomize


def _load_tool():
    spec = importlib.util.spec_from_file_location('merge_tool', REPO / 'tools/merge_adapters.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _adapted_config(scope, tmp_path):
    """A config file that wraps the tiny ``scope`` model's backbone with RepAdapters."""
    path = tmp_path / f'{scope}_repadapter.py'
    path.write_text(
        f"_base_ = '{TINY_CONFIGS[scope]}'\n"
        'model = dict(backbone=dict(\n'
        "    _delete_=True, type='mmsls.AdaptedBackbone', backbone=_base_.model.backbone,\n"
        "    adapter=dict(type='RepAdapter', scale=0.5)))\n")
    return path


def _build(config, checkpoint=None):
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(copy.deepcopy(cfg.model))
    if checkpoint is not None:
        load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True)
    return model.eval()


def _features(model, side):
    inputs = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return list(model.extract_feat(inputs))


def _check_merged(config, checkpoint, out, side):
    adapted = _build(config, checkpoint)
    plain = _build(out / 'merged_config.py')
    merged = torch.load(out / 'merged.pth', weights_only=True)
    assert merged['meta']['merged_adapters'] > 0
    assert set(merged['state_dict']) == set(plain.state_dict())
    plain.load_state_dict(merged['state_dict'], strict=True)
    assert not any('Adapted' in type(m).__name__ for m in plain.modules())
    assert Config.fromfile(out / 'merged_config.py').load_from == str(out / 'merged.pth')
    assert max_relative_error(_features(adapted, side), _features(plain, side)) < 1e-5


def test_merges_a_checkpoint_trained_by_the_runner(tiny_data_dir, tmp_path):
    config = _adapted_config('mmpretrain', tmp_path)
    run_tool('train.py', config, '--work-dir', tmp_path / 'work', cwd=tiny_data_dir)
    checkpoint = tmp_path / 'work/iter_2.pth'
    out = tmp_path / 'merged'
    run_tool('merge_adapters.py', config, checkpoint, out, cwd=tmp_path)
    _check_merged(config, checkpoint, out, side=32)


@pytest.mark.parametrize('scope, side', [('mmdet', 64), ('mmseg', 64)])
def test_merges_dense_task_models(scope, side, tmp_path):
    config = _adapted_config(scope, tmp_path)
    model = _build(config)
    randomize(model.backbone.adapters())
    checkpoint = tmp_path / 'adapted.pth'
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, checkpoint)
    out = tmp_path / 'merged'
    _load_tool().main([str(config), str(checkpoint), str(out)])  # in-process: quicker
    _check_merged(config, checkpoint, out, side)


def test_a_config_without_adapted_backbone_is_explained():
    with pytest.raises(ValueError, match="type 'VisionTransformer', not mmsls.AdaptedBackbone"):
        _load_tool().plain_config(Config.fromfile(TINY_CONFIGS['mmpretrain']), 'merged.pth')


def test_merges_a_pruned_checkpoint_and_keeps_its_structure(tmp_path):
    from mmsls.depth import DEPTH_RECORD_KEY, depth_structure, prunable_units, prune_depth
    config = _adapted_config('mmpretrain', tmp_path)
    model = _build(config)
    randomize(model.backbone.adapters())
    prune_depth(model, [0, 2])  # a gap: layers.0 and layers.2 stay
    record = depth_structure(model)
    checkpoint = tmp_path / 'pruned.pth'
    torch.save({'meta': {DEPTH_RECORD_KEY: record}, 'state_dict': model.state_dict()}, checkpoint)
    out = tmp_path / 'merged'
    _load_tool().main([str(config), str(checkpoint), str(out)])

    merged = torch.load(out / 'merged.pth', weights_only=True)
    assert merged['meta'][DEPTH_RECORD_KEY] == record
    plain = _build(out / 'merged_config.py')
    prune_depth(plain, [0, 2])
    plain.load_state_dict(merged['state_dict'], strict=True)
    assert [unit.name for unit in prunable_units(plain)] == ['layers.0', 'layers.2']
    assert max_relative_error(_features(model.eval(), 32), _features(plain, 32)) < 1e-5
