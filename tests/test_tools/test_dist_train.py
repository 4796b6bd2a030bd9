"""tools/dist_train.sh CONFIG 2 runs two CPU processes (gloo) on a machine without GPU."""
from ..conftest import TINY_CONFIGS, run_tool


def test_dist_train_two_cpu_processes(tiny_data_dir, tmp_path):
    work_dir = tmp_path / 'work'
    proc = run_tool('dist_train.sh', TINY_CONFIGS['mmpretrain'], 2, '--work-dir', work_dir,
                    cwd=tiny_data_dir)
    log = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in log
    assert 'GPU number: 2' in log  # MMEngine's name for the world size, also on CPU
    assert (work_dir / 'iter_2.pth').is_file()
