"""Issue 16, case 6: two trainings into one work dir at once mixed their checkpoints and SLS records.

The training holds an exclusive lock on ``<work_dir>/.mmsls_train.lock``; a second one is refused, and
a run killed with SIGKILL leaves no stale lock behind (so ``--resume`` works after a crash).
"""
import signal
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmsls.runner import WORK_DIR_LOCK, run_stage, work_dir_lock


def test_second_training_into_a_locked_work_dir_is_refused(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path / 'work'), launcher='none'))
    with work_dir_lock(cfg):
        # The second run fails before it builds a Runner: the config below could not even build one.
        with pytest.raises(RuntimeError, match=r'work dir .*work is in use by another training \(pid'):
            run_stage(cfg, 'train')
    with work_dir_lock(cfg):  # released at the end of the first run
        pass


def test_lock_of_a_killed_run_is_released(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path / 'work'), launcher='none'))
    (tmp_path / 'work').mkdir()
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import fcntl, sys, time\n'
         f'lock = open({str(tmp_path / "work" / WORK_DIR_LOCK)!r}, "a+")\n'
         'fcntl.flock(lock, fcntl.LOCK_EX)\nprint("locked", flush=True)\ntime.sleep(600)'],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(RuntimeError, match='in use by another training'):
            with work_dir_lock(cfg):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with work_dir_lock(cfg):
        pass
