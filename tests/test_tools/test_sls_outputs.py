"""What an OpenMMLab user sees of an SLS run: the log lines, the visualizer's series and images."""
import json

import torch

from mmsls.criteria import depth_from_scores
from ..conftest import TINY_CONFIGS, run_tool


def test_sls_run_logs_costs_warnings_and_sends_one_score_series(tiny_data_dir, tmp_path):
    config = tmp_path / 'sls.py'
    # 24 samples: perplexity 30 is capped for them, with a warning. The SLS analysis of the
    # untrained model decides (dry run), the pruning hook then keeps 2 layers.
    config.write_text(
        f'_base_ = [{str(TINY_CONFIGS["mmpretrain"])!r}]\n'
        "custom_hooks = [dict(type='mmsls.SLSHook', num_samples=24, dry_run=True),\n"
        "                dict(type='mmsls.PruneDepthHook', depth=2)]\n")
    work_dir = tmp_path / 'work'
    log = run_tool('train.py', config, '--work-dir', work_dir, cwd=tiny_data_dir)
    log = log.stdout + log.stderr
    record = json.loads((work_dir / 'sls_scores.json').read_text())
    assert record['kept_depth'] == depth_from_scores(record['scores'], 0.3)[0]
    # The perplexity cap goes through MMEngine's logger (its format), not to stderr alone.
    assert any('WARNING' in line and 'perplexity 30.0 is too large for 24 samples' in line
               for line in log.splitlines())
    assert 'depth pruning: 4 -> 2 units; params ' in log
    assert 'backbone FLOPs ' in log and 'per 32x32 image' in log
    # One series of score against layer, then the figure as an image.
    vis_dir = next(work_dir.glob('*/vis_data'))
    scalars = [json.loads(line) for line in (vis_dir / 'scalars.json').read_text().splitlines()]
    series = [(entry['step'], entry['sls/score']) for entry in scalars if 'sls/score' in entry]
    assert series == [(layer, score) for layer, score in enumerate(record['scores'], start=1)]
    assert not any(key.startswith('sls/score_layer') for entry in scalars for key in entry)
    assert (vis_dir / 'vis_image/sls_scores_0.png').is_file()

    # Testing the pruned checkpoint with the original config says what it re-applied.
    test = run_tool('test.py', TINY_CONFIGS['mmpretrain'], work_dir / 'iter_2.pth', '--work-dir',
                    tmp_path / 'test', cwd=tiny_data_dir)
    structure = torch.load(work_dir / 'iter_2.pth', weights_only=False)['meta']['mmsls_depth']
    assert f're-applied pruned structure {structure["kept"]}' in test.stdout + test.stderr
