"""What mmsls's tools add to any OpenMMLab config before building the Runner."""
import argparse
import gc
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction

# Re-applies a pruned structure recorded in a checkpoint before its weights load, and records it on
# save. Added to every run so that the original (unpruned) config can test or resume a pruned model.
DEPTH_STRUCTURE_HOOK = 'mmsls.DepthStructureHook'


def with_depth_structure_hook(cfg: Config) -> Config:
    """Return ``cfg`` with the depth-structure hook in ``custom_hooks`` (the caller's list is copied)."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    names = {hook.get('type') for hook in hooks}
    if not names & {DEPTH_STRUCTURE_HOOK, 'DepthStructureHook'}:
        hooks.append(dict(type=DEPTH_STRUCTURE_HOOK))
    cfg.custom_hooks = hooks
    return cfg


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config name>``, as OpenMMLab's tools choose when ``--work-dir`` is not given."""
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def setup_cpu_distributed(cfg: Config) -> Config:
    """Let ``--launcher pytorch`` run on a machine without a GPU (gloo, one process per CPU slot).

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and its DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``; both fail without a GPU. We initialise the process group ourselves
    (the Runner then skips its own initialisation) and give the wrapper ``device_ids=None``, which is
    what DDP expects for CPU modules. With a GPU nothing changes.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return cfg
    if not dist.is_initialized():
        backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend', 'gloo')
        if backend != 'gloo':
            raise ValueError(f"env_cfg.dist_cfg.backend='{backend}' needs a GPU; on CPU use 'gloo' "
                             "(--cfg-options env_cfg.dist_cfg.backend=gloo)")
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or dict(type='MMDistributedDataParallel'))
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return cfg


def load_run_config(config_path: str, cfg_options=None, work_dir=None,
                    launcher: str = 'none') -> Config:
    """The config as mmsls's ``tools/train.py`` and ``tools/test.py`` run it.

    Applies ``--cfg-options``, the work dir (``work_dirs/<config name>`` by default), the launcher,
    the depth-structure hook and, for distributed runs on CPU, :func:`setup_cpu_distributed`.
    """
    cfg = Config.fromfile(config_path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(config_path)
    cfg = with_depth_structure_hook(cfg)
    return setup_cpu_distributed(cfg)


def shutdown_distributed() -> None:
    """Tear down the process group at the end of a tool's run, while the interpreter is whole.

    Call it after dropping the Runner. Its DDP wrapper holds the process group, and the Runner,
    its hooks and its model refer to each other, so only the garbage collector frees them; left to
    interpreter exit, gloo's threads are torn down in no particular order and abort a rank after
    its work is done ("terminate called without an active exception": 4 of 60 two-process runs of
    the tiny config on a loaded machine). Collecting first, then a barrier (no rank still talks
    when another tears down), then destroying the group: 0 of 59.
    """
    import torch.distributed as dist
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_stage(cfg: Config, stage: str) -> Optional[dict]:
    """Build the Runner of ``cfg``, run its ``'train'`` or ``'test'`` loop, then shut down.

    Returns:
        dict | None: The metrics of ``'test'``; None for ``'train'``.
    """
    if stage not in ('train', 'test'):
        raise ValueError(f"stage must be 'train' or 'test', got {stage!r}")
    runner = build_runner(cfg)
    metrics = None
    if stage == 'train':
        runner.train()  # returns the wrapped model, which must not outlive the shutdown
    else:
        metrics = runner.test()
    del runner
    shutdown_distributed()
    return metrics


def build_runner(cfg: Config):
    """``Runner.from_cfg``, or the config's own ``runner_type`` when it names one."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that ``tools/train.py`` and ``tools/test.py`` share, as in OpenMMLab's tools."""
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value (e.g. train_cfg.max_iters=10)')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for launchers that pass it as an argument."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
