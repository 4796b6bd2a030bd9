"""Issue 16, case 2: ``--resume`` in a work dir without a checkpoint yet (a run killed during the
analysis or its first epoch) dropped ``load_from``: the model trained from its initialisation instead
of the PETL weights, exit 0. It now keeps ``load_from`` and says so."""
import signal
import subprocess
import time

import torch

from ..conftest import TINY_CONFIGS
from .tools_runner import run, save_checkpoint, tiny_model, tool_command, tool_env


def test_resume_after_a_kill_before_the_first_checkpoint_keeps_load_from(tiny_data_dir, tmp_path):
    config = TINY_CONFIGS['mmpretrain']
    # The weights load_from names: 1 away from any fresh initialisation, so one training step
    # (AdamW, lr 1e-3) cannot bring a model that did not load them anywhere near them.
    source = {key: value + 1 for key, value in tiny_model().state_dict().items()}
    save_checkpoint(tmp_path / 'petl.pth', source)
    work_dir = tmp_path / 'work'
    options = ['--cfg-options', f'load_from={tmp_path / "petl.pth"}']

    # A long run that saves no checkpoint, killed once it is under way.
    first = subprocess.Popen(tool_command('train.py', config, '--work-dir', work_dir, *options,
                                          'train_cfg.max_iters=100000',
                                          'default_hooks.checkpoint.interval=100000'),
                             cwd=tiny_data_dir, env=tool_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(work_dir.glob('*/vis_data')) and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL
    assert not list(work_dir.glob('*.pth'))

    proc = run('train.py', config, '--work-dir', work_dir, '--resume', *options,
               'train_cfg.max_iters=1', 'default_hooks.checkpoint.interval=1', cwd=tiny_data_dir)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert f'no checkpoint in {work_dir} yet, nothing to resume' in log
    assert f'Load checkpoint from {tmp_path / "petl.pth"}' in log
    trained = torch.load(work_dir / 'iter_1.pth', weights_only=True)['state_dict']
    assert max((trained[key] - source[key]).abs().max().item() for key in source) < 0.05
