"""Running mmsls's tools as a user does, keeping failures (they are what these tests check)."""
import os
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from ..conftest import REPO, TINY_CONFIGS, free_port


def tool_command(tool: str, *args):
    return [sys.executable, str(REPO / 'tools' / tool), *map(str, args)]


def tool_env():
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
                PORT=str(free_port()))


def run(tool: str, *args, cwd, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``tools/<tool>``; return the process (exit status and output), failed or not."""
    return subprocess.run(tool_command(tool, *args), cwd=cwd, env=tool_env(), capture_output=True,
                          text=True, timeout=timeout)


def tiny_model(scope: str = 'mmpretrain'):
    """The tiny config's model, freshly built (random weights)."""
    cfg = Config.fromfile(TINY_CONFIGS[scope])
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model)


def save_checkpoint(path, state_dict, meta=None):
    torch.save(dict(state_dict=state_dict, meta=meta or {}), path)
    return path
