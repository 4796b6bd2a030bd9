"""Every checkpoint source MMEngine reads loads with weights_only=True once mmsls is imported.

Issue 16, case 1: a poisoned file at an http(s) URL, or in torch hub's cache (which torchvision://,
modelzoo://, mmcls:// and open-mmlab:// names resolve to), ran its code. Each test serves or caches a
checkpoint whose unpickling would create a marker file, and checks that it is refused and nothing ran.
"""
import json
import os.path as osp
import pickle
from urllib.parse import urlparse

import pytest
import torch
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner.checkpoint import (CheckpointLoader, _load_checkpoint, get_mmcls_models,
                                        get_torchvision_models)

import mmsls  # noqa: F401  (registers the safe loaders)
from mmsls.checkpoint import SAFE_LOADERS
from ..conftest import TINY_CONFIGS
from .conftest import write_poisoned
from .tools_runner import run

REFUSED = 'refusing to load checkpoint'


def _refused(source, marker):
    with pytest.raises(pickle.UnpicklingError, match=f'(?s){REFUSED}.*posix.system'):
        _load_checkpoint(source, map_location='cpu')
    assert not marker.exists()


def _cache(torch_home, url, marker):
    """Put a poisoned file where torch hub caches ``url``."""
    return write_poisoned(torch_home / 'hub/checkpoints' / osp.basename(urlparse(url).path), marker)


def test_every_registered_scheme_loads_safely():
    # If MMEngine (or another package) registers a scheme we do not replace, this names it.
    safe = set(SAFE_LOADERS.values())
    assert {prefix: loader.__module__ for prefix, loader in CheckpointLoader._schemes.items()
            if loader not in safe} == {}


def test_http_url_served_poisoned_is_refused(http_root, torch_home, marker):
    root, base = http_root
    torch.save(dict(state_dict=dict(w=torch.ones(2))), root / 'good.pth')
    write_poisoned(root / 'poisoned.pth', marker)
    assert torch.equal(_load_checkpoint(f'{base}/good.pth', map_location='cpu')['state_dict']['w'],
                       torch.ones(2))
    _refused(f'{base}/poisoned.pth', marker)
    # It was downloaded to the hub cache, and refused there too on the next load.
    assert (torch_home / 'hub/checkpoints/poisoned.pth').is_file()
    _refused(f'{base}/poisoned.pth', marker)


@pytest.mark.parametrize('scheme', ['torchvision://', 'modelzoo://'])
def test_torchvision_name_poisoned_in_hub_cache_is_refused(scheme, torch_home, marker):
    _cache(torch_home, get_torchvision_models()['resnet18'], marker)
    _refused(f'{scheme}resnet18', marker)


def test_mmcls_name_poisoned_in_hub_cache_is_refused(torch_home, marker):
    _cache(torch_home, get_mmcls_models()['vgg11'], marker)
    _refused('mmcls://vgg11', marker)


@pytest.mark.parametrize('scheme', ['open-mmlab://', 'openmmlab://'])
def test_openmmlab_names_are_refused_from_url_and_from_mmengine_home(scheme, http_root, torch_home,
                                                                     marker, tmp_path, monkeypatch):
    root, base = http_root
    write_poisoned(root / 'remote.pth', marker)
    home = tmp_path / 'mmengine_home'
    write_poisoned(home / 'local.pth', marker)
    # A user's own open-mmlab:// names: a URL, and a path under MMEngine's home.
    (home / 'open_mmlab.json').write_text(json.dumps(dict(remote=f'{base}/remote.pth',
                                                          local='local.pth')))
    monkeypatch.setenv('MMENGINE_HOME', str(home))
    _refused(f'{scheme}remote', marker)
    _refused(f'{scheme}local', marker)


def test_pretrained_init_cfg_from_url_is_refused(http_root, torch_home, marker):
    """``init_cfg=dict(type='Pretrained', checkpoint=URL)``: a backbone initialising from a URL."""
    root, base = http_root
    write_poisoned(root / 'backbone.pth', marker)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        backbone = MODELS.build(dict(
            type='VisionTransformer', img_size=32, patch_size=8,
            arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
            init_cfg=dict(type='Pretrained', checkpoint=f'{base}/backbone.pth')))
    with pytest.raises(pickle.UnpicklingError, match=REFUSED):
        backbone.init_weights()
    assert not marker.exists()


def test_unknown_model_name_is_named():
    with pytest.raises(KeyError, match='torchvision://no_such_net is not a checkpoint MMEngine knows'):
        _load_checkpoint('torchvision://no_such_net')


@pytest.mark.parametrize('entry', ['test.py', 'load_from', 'resume', 'merge_adapters.py'])
def test_tools_refuse_a_poisoned_url(entry, http_root, torch_home, marker, tiny_data_dir, tmp_path):
    root, base = http_root
    url = f'{base}/{entry}.pth'
    write_poisoned(root / f'{entry}.pth', marker)
    config, work = TINY_CONFIGS['mmpretrain'], ['--work-dir', tmp_path / 'work']
    args = {
        'test.py': ('test.py', config, url, *work),
        'load_from': ('train.py', config, *work, '--cfg-options', f'load_from={url}'),
        'resume': ('train.py', config, *work, '--resume', url),
        'merge_adapters.py': ('merge_adapters.py', _adapted_config(tmp_path), url, tmp_path / 'merged'),
    }[entry]
    proc = run(*args, cwd=tiny_data_dir)
    assert proc.returncode != 0
    assert REFUSED in proc.stderr and 'posix.system' in proc.stderr
    assert not marker.exists()


def _adapted_config(tmp_path):
    """The tiny classifier with RepAdapters, as merge_adapters.py takes."""
    path = tmp_path / 'repadapter.py'
    path.write_text(f"_base_ = '{TINY_CONFIGS['mmpretrain']}'\n"
                    "model = dict(backbone=dict(_delete_=True, type='mmsls.AdaptedBackbone', "
                    "backbone=_base_.model.backbone, adapter=dict(type='RepAdapter')))\n")
    return path
