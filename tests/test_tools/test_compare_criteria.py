"""tools/compare_criteria.py: every criterion side by side, from saved features or a checkpoint."""
import json

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, MODELS

from mmsls.criteria.synthetic import synthetic_layer_features
from ..conftest import TINY_CONFIGS, run_tool


def test_saved_features_give_the_known_depth_for_every_criterion(tmp_path):
    # Separability rises then falls; layer 2 separates too few classes to reach 0.3 x layer 6's.
    features, labels = synthetic_layer_features((0.0, 0.1, 0.6, 1.0, 0.9, 0.8), 120, 6,
                                                num_dims=16, seed=0)
    np.savez(tmp_path / 'features.npz', labels=labels,
             **{f'layer_{layer}': array for layer, array in enumerate(features, start=1)})
    proc = run_tool('compare_criteria.py', '--features', tmp_path / 'features.npz',
                    '--tsne-backend', 'sklearn', cwd=tmp_path)
    assert 'Kept depth at alpha=0.3 (of 6)' in proc.stdout
    record = json.loads((tmp_path / 'compare_criteria.json').read_text())
    assert set(record['criteria']) == {'tsne_silhouette', 'raw_silhouette', 'linear_probe'}
    for name, result in record['criteria'].items():
        assert result['kept_depth'] == 3, name
        assert len(result['scores']) == 6
    assert (tmp_path / 'compare_criteria.png').stat().st_size > 10_000


def test_checkpoint_with_bypass_costs(tiny_data_dir, tmp_path):
    cfg = Config.fromfile(TINY_CONFIGS['mmpretrain'])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'model.pth')
    out = tmp_path / 'out'
    run_tool('compare_criteria.py', TINY_CONFIGS['mmpretrain'], tmp_path / 'model.pth',
             '--num-samples', 24, '--bypass', '--bypass-samples', 8, '--tsne-backend', 'sklearn',
             '--save-features', '--work-dir', out, cwd=tiny_data_dir)
    record = json.loads((out / 'compare_criteria.json').read_text())
    units = ['layers.0', 'layers.1', 'layers.2', 'layers.3']
    assert record['units'] == units and record['num_samples'] == 24
    assert set(record['bypass']['costs']) == set(units)
    pruned = len(units) - record['criteria']['tsne_silhouette']['kept_depth']
    assert len(record['bypass']['greedy_removed']) == pruned
    saved = np.load(out / 'features.npz')
    assert saved['layer_4'].shape == (24, 64) and list(saved['unit_names']) == units
