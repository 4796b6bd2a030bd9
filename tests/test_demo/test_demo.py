"""The demo's pipeline, shortened (``tools/demo.py --quick``): every stage leaves its artefacts,
and the pruned model evaluates."""
import json

import torch

from mmsls.depth import DEPTH_RECORD_KEY
from tests.conftest import run_tool

NUM_LAYERS = 8


def _checkpoint(stage_dir):
    path = (stage_dir / 'last_checkpoint').read_text().strip()
    return torch.load(path, map_location='cpu', weights_only=False)


def _layers(state_dict):
    return {key.split('.')[2] for key in state_dict if key.startswith('backbone.layers.')}


def test_quick_demo_runs_every_stage(tmp_path):
    work_dir = tmp_path / 'demo'
    proc = run_tool('demo.py', '--quick', '--work-dir', work_dir, cwd=tmp_path, timeout=900)
    assert '[f+g]' in proc.stdout and 'SLS scores' in proc.stdout  # progress was shown

    # (a) + (b): a plain source model, then adapters on a frozen copy of its backbone.
    source = _checkpoint(work_dir / 'pretrain')['state_dict']
    petl = _checkpoint(work_dir / 'petl')['state_dict']
    assert source['head.layers.head.weight'].shape[0] == 10
    assert petl['head.layers.head.weight'].shape[0] == 4
    assert not any('adapter' in key for key in source)
    assert any('adapter_attn' in key for key in petl) and any('adapter_mlp' in key for key in petl)
    assert torch.equal(petl['backbone.layers.5.ffn.layers.1.weight'],
                       source['backbone.layers.5.ffn.layers.1.weight'])

    # (c): the analysis with its plots; (d): a checkpoint pruned to the kept depth.
    sls_dir = work_dir / 'sls'
    analysis = json.loads((sls_dir / 'sls_scores.json').read_text())
    assert len(analysis['scores']) == NUM_LAYERS and analysis['alpha'] == 0.3
    kept = analysis['kept_depth']
    assert kept < NUM_LAYERS  # the seeded quick run prunes
    for plot in ('sls_scores.png', 'sls_tsne.png'):
        assert (sls_dir / plot).stat().st_size > 1000
    pruned = _checkpoint(sls_dir)
    assert pruned['meta'][DEPTH_RECORD_KEY] is not None
    assert _layers(pruned['state_dict']) == {str(i) for i in range(kept)}

    # (e): both models evaluate through tools/test.py with the unpruned config.
    report = json.loads((work_dir / 'report.json').read_text())
    for stage in ('test_petl', 'test_sls'):
        metrics = json.loads((work_dir / stage / 'metrics.json').read_text())
        assert 0 <= metrics['accuracy/top1'] <= 100
    assert report['sls_accuracy'] == json.loads(
        (work_dir / 'test_sls' / 'metrics.json').read_text())['accuracy/top1']

    # (f): merging changes no prediction; (g): the pruned model is faster and stores less.
    merge = report['merge']
    assert merge['petl']['adapters_merged'] == 2 * NUM_LAYERS
    assert merge['sls']['adapters_merged'] == 2 * kept and merge['sls']['layers'] == kept
    assert max(m['max_abs_logit_change'] for m in merge.values()) < 1e-4
    assert abs(merge['sls']['accuracy'] - report['sls_accuracy']) < 0.5
    assert report['throughput']['ratio'] > 0  # measured and reported; speed is no test's business
    storage = report['storage']
    assert storage['sls']['stored'] < storage['petl']['stored'] < storage['petl']['unpruned']
    assert torch.load(storage['sls']['path'], weights_only=True)['depth'] is not None

    # The report names the numbers and the plots.
    text = (work_dir / 'report.md').read_text()
    assert f'{kept} of {NUM_LAYERS}' in text and str(sls_dir / 'sls_tsne.png') in text
    assert f'{report["throughput"]["ratio"]:.2f}x' in text
