"""Shared fixtures: tiny datasets in the real formats, and running mmsls's tools as a user would."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIGS = {
    'mmpretrain': REPO / 'configs/_tiny_/vit_cls.py',
    'mmdet': REPO / 'configs/_tiny_/swin_retinanet.py',
    'mmseg': REPO / 'configs/_tiny_/setr_vit.py',
}


@pytest.fixture(scope='session')
def tiny_data_dir(tmp_path_factory) -> Path:
    """A directory holding ``data/tiny_cls``, ``data/tiny_coco`` and ``data/tiny_ade``.

    The tiny configs read their data relative to the working directory, so tools run with this
    directory as cwd.
    """
    # Imported here: mmsls.datasets needs mmpretrain, which tools/check_compat.sh's core stack lacks.
    from mmsls.datasets import write_tiny_ade20k, write_tiny_classification, write_tiny_coco
    base = tmp_path_factory.mktemp('tiny')
    write_tiny_classification(base / 'data/tiny_cls', num_classes=3)
    write_tiny_coco(base / 'data/tiny_coco', num_classes=3)
    write_tiny_ade20k(base / 'data/tiny_ade', num_classes=4)
    return base


def free_port() -> int:
    """A free TCP port on the loopback, so that concurrent distributed runs do not collide."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_tool(tool: str, *args, cwd, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>`` of this repository as a subprocess; fail with its output if it fails."""
    path = REPO / 'tools' / tool
    cmd = ['bash', str(path)] if tool.endswith('.sh') else [sys.executable, str(path)]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PORT=str(free_port()))
    proc = subprocess.run([*cmd, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{tool} {" ".join(map(str, args))} exited {proc.returncode}:\n'
                    f'{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc
