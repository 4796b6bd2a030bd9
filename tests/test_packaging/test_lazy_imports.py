"""`import mmsls` imports only what the user's task needs (mmpretrain, mmdet, mmseg and scikit-learn
where they are used), shown in processes where those libraries cannot be imported."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from mmsls.criteria import depth_from_scores

from ..conftest import TINY_CONFIGS

REPO = Path(__file__).resolve().parents[2]


def run_without(missing, code: str, cwd=REPO, timeout=600) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which the packages ``missing`` cannot be imported
    (as if not installed: ``import sklearn`` raises ModuleNotFoundError)."""
    prelude = f'import sys\nfor name in {list(missing)!r}:\n    sys.modules[name] = None\n'
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-c', prelude + textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f'exit {proc.returncode}:\n{proc.stdout[-3000:]}\n'
                                  f'{proc.stderr[-6000:]}')
    return proc


def test_import_and_torch_backend_without_task_libraries_or_sklearn():
    proc = run_without(['mmdet', 'mmseg', 'mmpretrain', 'sklearn'], """
        import json
        import numpy as np
        import mmsls
        from mmsls.criteria import TSNESettings, select_depth

        imported = sorted(name for name in ('mmdet', 'mmseg', 'mmpretrain', 'sklearn', 'scipy')
                          if sys.modules.get(name) is not None)
        rng = np.random.default_rng(0)
        labels = np.repeat(np.arange(3), 20)
        centres = rng.normal(size=(3, 16))
        # Layer k separates the classes more as k grows.
        layers = [rng.normal(size=(60, 16)) + 0.8 * k * centres[labels] for k in range(4)]
        selection = select_depth(layers, labels, backend='torch', tsne=TSNESettings(max_iter=300))
        try:
            select_depth(layers, labels, backend='sklearn')
            error = None
        except ModuleNotFoundError as exc:
            error = str(exc)
        print(json.dumps(dict(imported=imported, version=mmsls.__version__, error=error,
                              scores=selection.scores, kept=selection.kept_depth)))
        """)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['imported'] == []
    assert result['scores'][-1] > result['scores'][0] + 0.2, result['scores']
    assert 1 <= result['kept'] <= 4
    assert "select_depth(backend='sklearn') needs scikit-learn" in result['error']
    assert 'pip install scikit-learn' in result['error']


def test_detection_only_environment_runs_the_sls_hook(tiny_data_dir, tmp_path):
    """mmdet present; mmpretrain, mmseg and scikit-learn absent: a RetinaNet-Swin config with
    adapters trains with the SLS hook, whose torch backend scores every block."""
    config = tmp_path / 'det_sls.py'
    config.write_text(
        f"_base_ = ['{TINY_CONFIGS['mmdet']}']\n"
        "model = dict(backbone=dict(_delete_=True, type='mmsls.AdaptedBackbone', "
        "backbone=_base_.model.backbone, adapter=dict(type='RepAdapter', hidden_dims=8)))\n"
        "custom_hooks = [dict(type='mmsls.SLSHook', num_samples=24, backend='torch')]\n")
    work_dir = tmp_path / 'work'
    run_without(['mmseg', 'mmpretrain', 'sklearn'], f"""
        import runpy
        sys.argv = ['train.py', {str(config)!r}, '--work-dir', {str(work_dir)!r}]
        runpy.run_path({str(REPO / 'tools/train.py')!r}, run_name='__main__')
        for name in ('mmseg', 'mmpretrain', 'sklearn'):
            assert sys.modules.get(name) is None, name
        """, cwd=tiny_data_dir)
    record = json.loads((work_dir / 'sls_scores.json').read_text())
    assert record['backend'] == 'torch'
    assert len(record['scores']) == len(record['units']) == 5  # Swin depths (1, 1, 2, 1)
    assert record['kept_depth'] == depth_from_scores(record['scores'], record['alpha'])[0]
    assert (work_dir / 'iter_2.pth').is_file()
