"""A wheel built from the tree holds the configs and tools for mim, and mim drives them:
`mim search mmsls`, `mim train mmsls CONFIG`, `mim test mmsls CONFIG -C CHECKPOINT`.

The wheel is built from a copy of the files git would commit (the working tree is left alone) with
the same setuptools backend `python -m build` uses, installed with --target into a temporary
directory that comes first on PYTHONPATH: mim then finds mmsls there, as in a user's environment.
"""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import mmsls

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip('mim', reason='openmim is not installed (tools/setup_env.sh installs it)')


def run(cmd, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (f'{cmd} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n'
                                  f'{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp('wheel')
    source = base / 'src'
    files = run(['git', 'ls-files', '--cached', '--others', '--exclude-standard', '-z'],
                cwd=REPO).stdout.split('\0')
    for name in filter(None, files):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index',
         '-q', '-w', base / 'dist', source], cwd=base)
    (built, ) = (base / 'dist').glob('mmsls-*.whl')
    return built


def test_wheel_holds_configs_tools_and_model_index(wheel):
    assert wheel.name.startswith(f'mmsls-{mmsls.__version__}-py3-none-any')
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ('mmsls/.mim/configs/_tiny_/vit_cls.py', 'mmsls/.mim/configs/metafile.yml',
                 'mmsls/.mim/configs/vtab/repadapter/vit-b16_repadapter_sls_vtab1k-cifar.py',
                 'mmsls/.mim/tools/train.py', 'mmsls/.mim/tools/test.py',
                 'mmsls/.mim/tools/dist_train.sh', 'mmsls/.mim/model-index.yml',
                 'mmsls/version.py', 'mmsls/compat.py'):
        assert name in names, name
    configs = {p.relative_to(REPO).as_posix() for p in (REPO / 'configs').rglob('*.py')}
    assert {f'mmsls/.mim/{c}' for c in configs} <= names
    assert not [name for name in names if '__pycache__' in name or name.endswith('.pyc')]
    metadata = zipfile.ZipFile(wheel).read(
        f'mmsls-{mmsls.__version__}.dist-info/METADATA').decode()
    requires = [line.split(': ', 1)[1] for line in metadata.splitlines()
                if line.startswith('Requires-Dist: ')]
    assert requires and not [r for r in requires
                             if any(s.operator in ('==', '===') for s in Requirement(r).specifier)]
    assert 'License: Apache License 2.0' in metadata or 'Apache' in metadata


@pytest.fixture(scope='module')
def installed(wheel, tmp_path_factory) -> dict:
    """Environment variables of a process that imports mmsls from the installed wheel."""
    site = tmp_path_factory.mktemp('site')
    run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', '--target', site,
         wheel], cwd=site)
    return dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def test_mim_search_lists_the_recipes(installed, tmp_path):
    proc = run([sys.executable, '-m', 'mim', 'search', 'mmsls', '--model', 'sls'], cwd=tmp_path,
               env=installed)
    assert 'config id: vit-b16_repadapter_sls_vtab1k-cifar' in proc.stdout
    assert 'configs/vtab/repadapter/vit-b16_repadapter_sls_vtab1k-cifar.py' in proc.stdout


def test_mim_train_and_test_a_tiny_config(installed, tiny_data_dir, tmp_path):
    work_dir = tmp_path / 'work'
    # A config name alone: mim finds it in mmsls/.mim/configs and runs mmsls/.mim/tools/train.py.
    proc = run([sys.executable, '-m', 'mim', 'train', 'mmsls', 'vit_cls.py', '--work-dir',
                work_dir], cwd=tiny_data_dir, env=installed)
    script = Path(installed['PYTHONPATH']) / 'mmsls/.mim/tools/train.py'
    assert f'Training command is {sys.executable} {script}' in proc.stdout
    assert (work_dir / 'iter_2.pth').is_file()
    proc = run([sys.executable, '-m', 'mim', 'test', 'mmsls', 'vit_cls.py', '-C',
                work_dir / 'iter_2.pth', '--work-dir', tmp_path / 'test'],
               cwd=tiny_data_dir, env=installed)
    assert 'accuracy/top1' in proc.stdout + proc.stderr
