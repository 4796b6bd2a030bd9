"""What mmsls's tools add to any OpenMMLab config before building the Runner."""
import argparse
import gc
import os
import os.path as osp
import socket
from contextlib import contextmanager
from typing import Iterator, Optional

from mmengine.config import Config, DictAction

# Re-applies a pruned structure recorded in a checkpoint before its weights load, and records it on
# save. Added to every run so that the original (unpruned) config can test or resume a pruned model.
DEPTH_STRUCTURE_HOOK = 'mmsls.DepthStructureHook'
# Makes a mismatch between ``load_from`` and the model an error (MMEngine loads non-strictly).
STRICT_LOAD_HOOK = 'mmsls.StrictLoadHook'
# Held by the training in a work dir while it runs (see work_dir_lock).
WORK_DIR_LOCK = '.mmsls_train.lock'


def with_depth_structure_hook(cfg: Config) -> Config:
    """Return ``cfg`` with the depth-structure hook in ``custom_hooks`` (the caller's list is copied)."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    names = {hook.get('type') for hook in hooks}
    if not names & {DEPTH_STRUCTURE_HOOK, 'DepthStructureHook'}:
        hooks.append(dict(type=DEPTH_STRUCTURE_HOOK))
    cfg.custom_hooks = hooks
    return cfg


def with_strict_loading(cfg: Config) -> Config:
    """Return ``cfg`` with :class:`mmsls.hooks.StrictLoadHook` in ``custom_hooks`` (list copied)."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not {hook.get('type') for hook in hooks} & {STRICT_LOAD_HOOK, 'StrictLoadHook'}:
        hooks.append(dict(type=STRICT_LOAD_HOOK))
    cfg.custom_hooks = hooks
    return cfg


def resolve_resume(cfg: Config, resume: Optional[str]) -> Config:
    """Set ``cfg.resume``/``cfg.load_from`` for ``tools/train.py --resume [CHECKPOINT]``.

    ``resume='auto'`` (``--resume`` without a path) resumes from the latest checkpoint in the work
    dir. When there is none yet (the run was stopped before its first checkpoint), the run starts
    afresh from the config's ``load_from``, which is kept (MMEngine would drop it and train from
    the pre-trained backbone alone), and says so.
    """
    from mmengine.logging import print_log
    from mmengine.runner import find_latest_checkpoint
    if resume is None:
        return cfg
    if resume != 'auto':
        cfg.resume, cfg.load_from = True, resume
        return cfg
    latest = find_latest_checkpoint(cfg.work_dir) if osp.isdir(cfg.work_dir) else None
    if latest is not None:
        cfg.resume, cfg.load_from = True, latest
    else:
        cfg.resume = False
        print_log(f'--resume: no checkpoint in {cfg.work_dir} yet, nothing to resume; starting '
                  f'the run from the beginning with load_from={cfg.get("load_from", None)}',
                  logger='current')
    return cfg


def launcher_rank(launcher: str) -> int:
    """This process's global rank as the launcher tells it, before any process group exists."""
    variables = dict(pytorch='RANK', slurm='SLURM_PROCID', mpi='OMPI_COMM_WORLD_RANK')
    return int(os.environ.get(variables.get(launcher, ''), 0))


@contextmanager
def work_dir_lock(cfg: Config) -> Iterator[None]:
    """Hold ``<work_dir>/.mmsls_train.lock`` while a training runs; refuse if another holds it.

    Two trainings into one work dir would mix their checkpoints, ``last_checkpoint`` and
    ``sls_scores.json``. Rank 0 of a run takes an exclusive ``flock`` on the lock file; the kernel
    releases it when the process ends, however it ends, so a killed run never blocks its
    ``--resume``. Where ``fcntl`` is unavailable (Windows) no lock is taken.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    if launcher_rank(cfg.get('launcher', 'none')) != 0:
        yield
        return
    os.makedirs(cfg.work_dir, exist_ok=True)
    path = osp.join(cfg.work_dir, WORK_DIR_LOCK)
    with open(path, 'a+') as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or 'another process'
            raise RuntimeError(
                f'the work dir {cfg.work_dir} is in use by another training ({holder}): two runs '
                'into one work dir would mix their checkpoints and SLS records. Wait for it to end, '
                'or give this run another --work-dir') from None
        lock.truncate(0)
        lock.write(f'pid {os.getpid()} on {socket.gethostname()}\n')
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def enable_auto_scale_lr(cfg: Config) -> Config:
    """``--auto-scale-lr``: scale the learning rate by the total batch size over the config's
    ``auto_scale_lr.base_batch_size`` (MMEngine's linear scaling rule), as mmdet's train.py does."""
    if not isinstance(cfg.get('auto_scale_lr', None), dict) or 'base_batch_size' not in \
            cfg.auto_scale_lr:
        raise ValueError('--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the '
                         'config (the total batch size its learning rate is meant for); add it, or '
                         'drop --auto-scale-lr')
    cfg.auto_scale_lr = dict(cfg.auto_scale_lr, enable=True)
    return cfg


def disable_validation(cfg: Config) -> Config:
    """``--no-validate``: train without the validation loop, as mmpretrain's train.py does."""
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


# The visualization hook of each scope and where it takes the directory of the drawn predictions.
_SHOW_DIR_OPTION = {'VisualizationHook': 'out_dir',          # mmpretrain
                    'DetVisualizationHook': 'test_out_dir',  # mmdet
                    'SegVisualizationHook': None}            # mmseg: the visualizer's save_dir


def enable_test_visualization(cfg: Config, show_dir: Optional[str] = None, show: bool = False,
                              wait_time: float = 2) -> Config:
    """``--show`` / ``--show-dir`` of tools/test.py: turn on the config's visualization hook, as
    mmpretrain's, mmdet's and mmseg's test.py do."""
    hook = (cfg.get('default_hooks', None) or {}).get('visualization', None)
    kind = str((hook or {}).get('type', '')).rpartition('.')[2]
    if kind not in _SHOW_DIR_OPTION:
        raise ValueError('--show/--show-dir need the visualization hook of the config\'s library '
                         "in default_hooks, e.g. visualization=dict(type='VisualizationHook') "
                         "(mmpretrain), 'DetVisualizationHook' (mmdet) or 'SegVisualizationHook' "
                         f'(mmseg), and its visualizer; this config has {hook!r}')
    # mmpretrain's hook draws one sample in `interval`; its test.py draws every one by default.
    hook = dict(hook, **(dict(enable=True, interval=1) if kind == 'VisualizationHook'
                         else dict(draw=True)))
    if show:
        hook.update(show=True, wait_time=wait_time)
    if show_dir:
        option = _SHOW_DIR_OPTION[kind]
        if option is None:
            cfg.visualizer = dict(cfg.get('visualizer', None) or {}, save_dir=show_dir)
        else:
            hook[option] = show_dir
    cfg.default_hooks = dict(cfg.default_hooks, visualization=hook)
    return cfg


def with_dumped_predictions(cfg: Config, out: str) -> Config:
    """``--out FILE.pkl`` of tools/test.py: also dump the predictions with MMEngine's
    ``DumpResults`` metric, as mmdet's test.py does (for offline evaluation)."""
    if not out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out {out}: the predictions are dumped as a pickle, so the file must end '
                         'in .pkl or .pickle; the metrics go to --out-metrics FILE.json')
    evaluator = cfg.test_evaluator
    metrics = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    cfg.test_evaluator = [*metrics, dict(type='mmengine.DumpResults', out_file_path=out)]
    return cfg


def build_optimizer_quietly(runner) -> None:
    """Build the Runner's optimizer wrapper now, with MMEngine's one warning per frozen parameter
    (a frozen backbone has hundreds) collapsed into one summary line."""
    from mmsls.reporting import FROZEN_PARAMETER_MESSAGE, summarised
    with summarised(runner.logger, FROZEN_PARAMETER_MESSAGE,
                    'optimizer: {count} frozen parameter tensors (requires_grad=False) are left '
                    'out of its param groups'):
        runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)


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
    if stage == 'test':
        runner = build_runner(cfg)
        metrics = runner.test()
    else:
        with work_dir_lock(cfg):
            runner = build_runner(cfg)
            build_optimizer_quietly(runner)
            runner.train()  # returns the wrapped model, which must not outlive the shutdown
            metrics = None
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
