"""Each task's recipe end to end on tiny data through tools/run_two_stage.py: PETL training, SLS
pruning + re-training and the final test, with overrides that only shrink the model and the data."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmsls.criteria import depth_from_scores
from mmsls.datasets import write_tiny_ade20k, write_tiny_coco, write_tiny_vtab
from ..conftest import REPO, run_tool
from .recipes import CONFIGS, write_tiny_config

# Per task: the PETL config, the SLS config, the tiny data writer, the metric the test reports.
FLOWS = {
    'vtab': ('vtab/convpass/vit-b16_convpass_vtab1k-kitti.py',
             'vtab/convpass/vit-b16_convpass_sls_vtab1k-kitti.py',
             lambda root: write_tiny_vtab(root, task='kitti', train_per_class=10,
                                          test_per_class=4, size=32),
             'accuracy/top1'),
    'coco': ('coco/retinanet_swin-t_repadapter_fpn_1x_coco.py',
             'coco/retinanet_swin-t_repadapter_sls-alpha0.3_fpn_1x_coco.py',
             lambda root: write_tiny_coco(root, num_classes=3, num_train=16, num_val=4),
             'coco/bbox_mAP'),
    'ade20k': ('ade20k/setr_vit-l_repadapter_pup_8xb2-160k_ade20k-512x512.py',
               'ade20k/setr_vit-l_repadapter_sls-alpha0.3_pup_8xb2-160k_ade20k-512x512.py',
               lambda root: write_tiny_ade20k(root, num_classes=4, num_train=8, num_val=4),
               'mIoU'),
}


@pytest.fixture(scope='module')
def run_flow(tmp_path_factory):
    """``task -> its run directory`` after the flow ran (once per task for this module)."""
    finished = {}

    def run(task: str) -> Path:
        if task not in finished:
            finished[task] = _run_flow(task, tmp_path_factory.mktemp(task))
        return finished[task]

    return run


def _run_flow(task: str, root: Path) -> Path:
    petl, sls, write_data, _ = FLOWS[task]
    write_data(root / 'data')
    petl_config = write_tiny_config(CONFIGS / petl, root / 'petl.py', str(root / 'data'))
    sls_config = write_tiny_config(CONFIGS / sls, root / 'sls.py', str(root / 'data'))
    extra = ['--test-petl'] if task == 'vtab' else []
    if task == 'coco':  # an option of the SLS hook, which the PETL config does not have
        extra = ['--sls-cfg-options', 'custom_hooks.0.seed=1']
    if task == 'ade20k':  # the PETL stage run by hand, the wrapper then starts from its checkpoint
        run_tool('train.py', petl_config, '--work-dir', root / 'petl', cwd=root)
        extra = ['--petl-checkpoint', root / 'petl/iter_2.pth']
    run_tool('run_two_stage.py', petl_config, sls_config, '--work-dir', root / 'work', *extra,
             cwd=root)
    return root


def _units_in(checkpoint: Path, units):
    """The units among ``units`` that have weights in ``checkpoint``."""
    keys = torch.load(checkpoint, weights_only=True)['state_dict']
    return [unit for unit in units if any(f'backbone.{unit}.' in key for key in keys)]


@pytest.mark.parametrize('task', sorted(FLOWS))
def test_two_stages_and_the_final_test_run_from_the_recipe(task, run_flow):
    work_dir = run_flow(task) / 'work'
    metric = FLOWS[task][3]
    summary = json.loads((work_dir / 'summary.json').read_text())
    assert isinstance(summary['test_metrics'][metric], float)
    if task == 'vtab':
        assert isinstance(summary['test_petl_metrics'][metric], float)
    # The SLS decision follows the rule from the scores it reports, and it pruned.
    decision = summary['sls_decision']
    assert (work_dir / 'sls/sls_scores.png').is_file()
    assert decision['kept_depth'] == depth_from_scores(decision['scores'], decision['alpha'])[0]
    assert decision['alpha'] == 0.3
    assert decision['seed'] == (1 if task == 'coco' else 0)
    units, kept = decision['units'], decision['kept_units']
    assert len(kept) < len(units)
    # The PETL checkpoint has every unit; the pruned one (which the final test evaluated) only
    # the kept ones.
    assert _units_in(Path(summary['petl_checkpoint']), units) == units
    assert summary['sls_checkpoint'].startswith(str(work_dir / 'sls'))
    assert _units_in(Path(summary['sls_checkpoint']), units) == kept


def test_multi_scale_test_of_the_pruned_segmentation_model(run_flow):
    root = run_flow('ade20k')
    summary = json.loads((root / 'work/summary.json').read_text())
    out = root / 'tta.json'
    run_tool('test.py', root / 'sls.py', summary['sls_checkpoint'], '--tta', '--out-metrics', out,
             '--work-dir', root / 'tta', cwd=root)
    assert isinstance(json.loads(out.read_text())['mIoU'], float)


def test_bad_wrapper_arguments_are_named(tmp_path):
    missing = tmp_path / 'missing.pth'
    proc = _run_wrapper(tmp_path, '--petl-checkpoint', missing)
    assert proc.returncode != 0 and f'--petl-checkpoint {missing} is not a file' in proc.stderr
    proc = _run_wrapper(tmp_path, '--cfg-options', 'load_from=x.pth')
    assert proc.returncode != 0 and 'load_from is set by the wrapper' in proc.stderr
    proc = _run_wrapper(tmp_path, '--gpus', '0')
    assert proc.returncode != 0 and '--gpus must be >= 1' in proc.stderr


def _run_wrapper(cwd: Path, *args):
    return subprocess.run([sys.executable, str(REPO / 'tools/run_two_stage.py'), 'petl.py',
                           'sls.py', *map(str, args)], cwd=cwd, capture_output=True, text=True)
