"""Requirements: ranges for users (setup.py, requirements/), exact versions only in the lock."""
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import mmsls

REPO = Path(__file__).resolve().parents[2]
OPENMMLAB = ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmdet', 'mmsegmentation', 'mmpretrain')


def load_setup():
    """setup.py as a module (its setup() call only runs as __main__)."""
    spec = importlib.util.spec_from_file_location('mmsls_setup', REPO / 'setup.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def name_of(requirement: str) -> str:
    return Requirement(requirement).name.lower()


def exact_pins(requirement: str) -> list:
    return [spec for spec in Requirement(requirement).specifier if spec.operator in ('==', '===')]


def test_install_requires_and_extras_are_ranges():
    setup = load_setup()
    runtime = setup.read_requirements('runtime')
    extras = setup.extras()
    for requirement in runtime + [r for reqs in extras.values() for r in reqs]:
        assert not exact_pins(requirement), requirement
    runtime_names = set(map(name_of, runtime))
    assert {'torch', 'numpy', 'scikit-learn', 'matplotlib', 'mmengine'} <= runtime_names
    # The task libraries and mmcv are extras, never forced on a user's environment.
    assert not {'mmcv', 'mmdet', 'mmsegmentation', 'mmpretrain', 'torchvision'} & runtime_names
    assert {'det', 'seg', 'cls', 'all', 'tests'} <= set(extras)
    assert 'mmcv>=2.0.0,<2.2.0' in extras['det'] and name_of(extras['det'][1]) == 'mmdet'
    assert {'mmdet', 'mmsegmentation', 'mmpretrain', 'onnxruntime'} <= set(
        map(name_of, extras['all']))


def test_installed_metadata_has_no_exact_pin():
    """What pip saw when it installed mmsls into this environment."""
    requires = importlib.metadata.requires('mmsls') or []
    assert requires, 'mmsls is installed without requirements: re-run bash tools/setup_env.sh'
    for requirement in requires:
        assert not exact_pins(requirement), requirement
    assert any(Requirement(r).name == 'torch' and str(Requirement(r).specifier) == '>=2.1'
               for r in requires)
    assert importlib.metadata.version('mmsls') == mmsls.__version__


def test_a_pinned_requirement_is_refused(tmp_path, monkeypatch):
    setup = load_setup()
    (tmp_path / 'requirements').mkdir()
    (tmp_path / 'requirements/runtime.txt').write_text('# a comment\nnumpy>=1.26\ntorch==2.1.2\n')
    monkeypatch.setattr(setup, 'ROOT', str(tmp_path))
    with pytest.raises(ValueError,
                       match=r"requirements/runtime.txt pins exact versions: \['torch==2.1.2'\]"):
        setup.read_requirements('runtime')


def test_lock_pins_everything_exactly_and_setup_reads_only_the_lock():
    lock = (REPO / 'requirements/lock.txt').read_text().splitlines()
    pins = [line for line in lock if line.strip() and not line.startswith('#')]
    for line in pins:
        assert re.fullmatch(r'[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+!\-]+', line), line
    assert {name_of(line) for line in pins} >= set(OPENMMLAB) | {'numpy', 'scikit-learn',
                                                                 'onnxruntime', 'openmim'}
    # No other file pins: requirements.txt and requirements/*.txt hold ranges.
    for path in [REPO / 'requirements.txt', *sorted((REPO / 'requirements').glob('*.txt'))]:
        if path.name != 'lock.txt':
            assert '==' not in path.read_text(), path
    setup_env = (REPO / 'tools/setup_env.sh').read_text()
    assert 'lock="requirements/lock.txt"' in setup_env and '-c "$lock"' in setup_env


@pytest.mark.skipif(Path(sys.prefix).resolve() != (REPO / '.venv').resolve(),
                    reason="the lock describes the repository's .venv")
def test_lock_matches_the_venv():
    lock = (REPO / 'requirements/lock.txt').read_text().splitlines()
    wrong = {}
    for line in lock:
        if '==' in line and not line.startswith('#'):
            name, version = line.split('==')
            try:
                installed = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                installed = None
            if installed != version:
                wrong[name] = (version, installed)
    assert not wrong, f'(locked, installed) differ: {wrong}; run bash tools/setup_env.sh'


def test_version_is_written_once():
    setup = load_setup()
    assert setup.read_version() == mmsls.__version__
    assert re.fullmatch(r'\d+\.\d+\.\d+(rc\d+)?', mmsls.__version__)
    written = [path.relative_to(REPO).as_posix() for path in
               [REPO / 'setup.py', *sorted((REPO / 'mmsls').rglob('*.py'))]
               if re.search(r"^__version__\s*=", path.read_text(), re.M)]
    assert written == ['mmsls/version.py']


def test_license_is_apache_2():
    text = (REPO / 'LICENSE').read_text()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    assert "license='Apache License 2.0'" in (REPO / 'setup.py').read_text()
