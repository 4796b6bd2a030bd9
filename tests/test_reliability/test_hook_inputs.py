"""Issue 16, cases 5-7 on the hooks' side: a wrong ``seed`` or ``backend`` fails when the hook is
built (``backend='nope'`` was reported only after the feature capture), tampered SLS and fade records
in a checkpoint are refused on ``--resume`` with the record named (``TypeError``/``KeyError``, or a
blend of 7.0 used as is), ``--resume`` with another model's checkpoint names its keys (it failed on
optimizer group sizes), and a checkpoint saved mid-fade is not tested as if it had no fade."""
import pytest
import torchvision

from mmsls.hooks import SLSHook
from mmsls.hooks.progressive_depth import PROGRESSIVE_RECORD_KEY
from mmsls.hooks.sls_hook import SLS_RECORD_KEY
from ..conftest import TINY_CONFIGS
from .tools_runner import run, save_checkpoint, tiny_model


def test_sls_hook_seed_must_be_an_int():
    with pytest.raises(ValueError, match=r"seed must be an int .*got 'a'"):
        SLSHook(seed='a')


def test_sls_hook_backend_is_checked_when_the_hook_is_built():
    with pytest.raises(ValueError, match=r"backend='nope' is not a backend of the 'tsne_silhouette'"):
        SLSHook(backend='nope')


def _config_with(tmp_path, hook):
    path = tmp_path / 'config.py'
    path.write_text(f"_base_ = '{TINY_CONFIGS['mmpretrain']}'\ncustom_hooks = [{hook}]\n")
    return path


def _resume(tmp_path, config, meta, cwd):
    checkpoint = save_checkpoint(tmp_path / 'iter_2.pth', tiny_model().state_dict(), meta)
    return run('train.py', config, '--work-dir', tmp_path / 'work', '--resume', checkpoint, cwd=cwd)


def test_tampered_sls_record_is_refused_on_resume(tiny_data_dir, tmp_path):
    config = _config_with(tmp_path, "dict(type='mmsls.SLSHook', keep=2)")
    proc = _resume(tmp_path, config, {SLS_RECORD_KEY: dict(units='layers.0', kept_depth='2')},
                   tiny_data_dir)
    assert proc.returncode != 0
    assert f"SLS decision (meta['{SLS_RECORD_KEY}']) is not valid" in proc.stderr


def test_fade_record_with_blend_out_of_range_is_refused_on_resume(tiny_data_dir, tmp_path):
    config = _config_with(tmp_path, "dict(type='mmsls.ProgressiveDepthHook', blocks=['layers.3'], "
                                    "begin=1, span=2)")
    record = dict(blocks=['layers.3'], blend=7.0, removed=False)
    proc = _resume(tmp_path, config, {PROGRESSIVE_RECORD_KEY: record}, tiny_data_dir)
    assert proc.returncode != 0
    assert '"blend" must be a number in [0, 1]' in proc.stderr


def test_resume_with_another_models_checkpoint_names_the_keys(tiny_data_dir, tmp_path):
    other = save_checkpoint(tmp_path / 'resnet.pth', torchvision.models.resnet18().state_dict())
    proc = run('train.py', TINY_CONFIGS['mmpretrain'], '--work-dir', tmp_path / 'work', '--resume',
               other, cwd=tiny_data_dir)
    assert proc.returncode != 0
    assert 'resnet.pth does not fit the model of the config' in proc.stderr
    assert 'missing keys: backbone.cls_token' in proc.stderr


def test_mid_fade_checkpoint_tested_without_its_hook_is_not_silent(tiny_data_dir, tmp_path):
    # Saved halfway through fading out layers.3, tested with a config without ProgressiveDepthHook
    # (with the hook, the recorded blend is applied: tests/test_hooks/test_progressive_depth.py).
    record = dict(blocks=['layers.3'], blend=0.5, removed=False)
    checkpoint = save_checkpoint(tmp_path / 'mid_fade.pth', tiny_model().state_dict(),
                                 {PROGRESSIVE_RECORD_KEY: record})
    proc = run('test.py', TINY_CONFIGS['mmpretrain'], checkpoint, '--work-dir', tmp_path / 'test',
               cwd=tiny_data_dir)
    assert proc.returncode != 0
    assert ("faded out (blend 0.5), and this run has no ProgressiveDepthHook to re-apply the fade"
            in proc.stderr)
