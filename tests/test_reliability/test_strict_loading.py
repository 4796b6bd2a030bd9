"""Issue 16, case 6: tools/test.py loaded another model's checkpoint, or a pruned checkpoint stripped of
its depth record, non-strictly (MMEngine's default) and reported the accuracy of random weights, exit 0.
It now loads strictly and names the keys that do not fit; ``--non-strict`` opts out."""
import pytest
import torchvision

from mmsls.depth import prune_depth
from ..conftest import TINY_CONFIGS
from .tools_runner import run, save_checkpoint, tiny_model


def _test(checkpoint, *args, cwd, tmp_path):
    return run('test.py', TINY_CONFIGS['mmpretrain'], checkpoint, '--work-dir', tmp_path / 'test',
               *args, cwd=cwd)


def test_another_models_checkpoint_is_refused_naming_the_keys(tiny_data_dir, tmp_path):
    other = save_checkpoint(tmp_path / 'resnet.pth', torchvision.models.resnet18().state_dict())
    proc = _test(other, cwd=tiny_data_dir, tmp_path=tmp_path)
    assert proc.returncode != 0
    assert 'resnet.pth does not fit the model of the config' in proc.stderr
    assert 'missing keys: backbone.cls_token' in proc.stderr
    assert 'unexpected keys: conv1.weight' in proc.stderr
    assert '--non-strict' in proc.stderr


def test_non_strict_loads_what_matches_and_names_the_rest(tiny_data_dir, tmp_path):
    state = tiny_model().state_dict()
    state.pop('head.layers.head.weight')
    checkpoint = save_checkpoint(tmp_path / 'partial.pth', state)
    proc = _test(checkpoint, '--non-strict', cwd=tiny_data_dir, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'missing keys in source state_dict: head.layers.head.weight' in proc.stdout + proc.stderr


def test_pruned_checkpoint_without_its_record_is_refused(tiny_data_dir, tmp_path):
    model = tiny_model()
    prune_depth(model, keep=[0, 1])
    # As the Runner saves a pruned model, minus meta['mmsls_depth'].
    checkpoint = save_checkpoint(tmp_path / 'pruned.pth', model.state_dict())
    proc = _test(checkpoint, cwd=tiny_data_dir, tmp_path=tmp_path)
    assert proc.returncode != 0
    # Named by mmsls's guard on partial blocks, which precedes the key check.
    assert 'none for layers.2, layers.3' in proc.stderr
