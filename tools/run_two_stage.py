"""Run a recipe's PETL stage, SLS stage (pruning + re-training) and final test, in order.

    python tools/run_two_stage.py PETL_CONFIG SLS_CONFIG [--work-dir DIR] [--gpus N]
                                  [--petl-checkpoint CKPT] [--test-petl] [--tta]
                                  [--cfg-options KEY=VALUE ...] [--sls-cfg-options KEY=VALUE ...]

Each step is the standard tool in its own process (``tools/train.py`` / ``tools/test.py``, or
``tools/dist_train.sh`` / ``tools/dist_test.sh`` with ``--gpus N`` > 1):

1. ``train PETL_CONFIG`` into ``DIR/petl`` (skipped with ``--petl-checkpoint``, e.g. to try a second
   alpha on the same PETL model);
2. ``train SLS_CONFIG`` into ``DIR/sls`` with ``load_from`` = the PETL stage's last checkpoint;
3. ``test SLS_CONFIG`` on the SLS stage's last checkpoint into ``DIR/test`` (and, with
   ``--test-petl``, the PETL checkpoint into ``DIR/test_petl``).

``DIR`` defaults to ``work_dirs/<SLS config name>``. ``--cfg-options`` go to every step,
``--sls-cfg-options`` to the steps that use SLS_CONFIG only (e.g. ``custom_hooks.0.alpha=0.5``,
which the PETL config has no hook for). The metrics, checkpoints and the SLS decision (from
``sls_scores.json``) end up in ``DIR/summary.json``.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

TOOLS = Path(__file__).resolve().parent


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='PETL stage, SLS stage and final test of a recipe, in order')
    parser.add_argument('petl_config', help='config of the PETL stage (stage 1)')
    parser.add_argument('sls_config', help='config of the SLS stage (stage 2)')
    parser.add_argument('--work-dir', help='root of the three work dirs '
                        '(default: work_dirs/<SLS config name>)')
    parser.add_argument('--gpus', type=int, default=1,
                        help='processes per step; > 1 runs tools/dist_train.sh / dist_test.sh')
    parser.add_argument('--petl-checkpoint',
                        help='skip the PETL stage and start the SLS stage from this checkpoint')
    parser.add_argument('--test-petl', action='store_true',
                        help='also test the PETL checkpoint, to compare with the pruned model')
    parser.add_argument('--tta', action='store_true', help='test with test-time augmentation')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='config overrides for every step, as in tools/train.py')
    parser.add_argument('--sls-cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='config overrides for the SLS stage and its test only')
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f'--gpus must be >= 1, got {args.gpus}')
    for option in args.cfg_options + args.sls_cfg_options:
        if option.split('=', 1)[0] == 'load_from':
            parser.error('load_from is set by the wrapper; use --petl-checkpoint to choose the '
                         'checkpoint the SLS stage starts from')
    return args


def run_step(name: str, command: List[str]) -> None:
    """Run one step in its own process; exit with its status if it fails."""
    print(f'\n=== {name}: {" ".join(command)}', flush=True)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(TOOLS.parent), env.get('PYTHONPATH')]))
    status = subprocess.run(command, env=env).returncode
    if status != 0:
        sys.exit(f'{name} failed (exit status {status}); see its output above')


def train_command(config: str, work_dir: Path, gpus: int, cfg_options: List[str]) -> List[str]:
    if gpus > 1:
        command = ['bash', str(TOOLS / 'dist_train.sh'), config, str(gpus)]
    else:
        command = [sys.executable, str(TOOLS / 'train.py'), config]
    command += ['--work-dir', str(work_dir)]
    return command + (['--cfg-options', *cfg_options] if cfg_options else [])


def test_command(config: str, checkpoint: Path, work_dir: Path, gpus: int, cfg_options: List[str],
                 tta: bool) -> List[str]:
    if gpus > 1:
        command = ['bash', str(TOOLS / 'dist_test.sh'), config, str(checkpoint), str(gpus)]
    else:
        command = [sys.executable, str(TOOLS / 'test.py'), config, str(checkpoint)]
    command += ['--work-dir', str(work_dir), '--out-metrics', str(work_dir / 'metrics.json')]
    command += ['--tta'] if tta else []
    return command + (['--cfg-options', *cfg_options] if cfg_options else [])


def last_checkpoint(work_dir: Path) -> Path:
    """The checkpoint MMEngine's CheckpointHook saved last in ``work_dir``."""
    record = work_dir / 'last_checkpoint'
    if not record.is_file():
        sys.exit(f'no checkpoint was saved in {work_dir} ({record} is missing): check the '
                 "config's default_hooks.checkpoint")
    return Path(record.read_text().strip())


def sls_decision(work_dir: Path) -> Optional[dict]:
    """The SLS hook's report (``sls_scores.json``) in the SLS stage's work dir, if it wrote one."""
    reports = sorted(work_dir.rglob('sls_scores.json'), key=lambda path: path.stat().st_mtime)
    return json.loads(reports[-1].read_text()) if reports else None


def main(argv=None) -> None:
    args = parse_args(argv)
    root = Path(args.work_dir or Path('work_dirs') / Path(args.sls_config).stem)
    summary = dict(petl_config=args.petl_config, sls_config=args.sls_config)

    if args.petl_checkpoint:
        petl_checkpoint = Path(args.petl_checkpoint)
        if not petl_checkpoint.is_file():
            sys.exit(f'--petl-checkpoint {petl_checkpoint} is not a file')
    else:
        run_step('stage 1: PETL training',
                 train_command(args.petl_config, root / 'petl', args.gpus, args.cfg_options))
        petl_checkpoint = last_checkpoint(root / 'petl')
    summary['petl_checkpoint'] = str(petl_checkpoint)

    sls_options = [*args.cfg_options, *args.sls_cfg_options]
    run_step('stage 2: SLS pruning and re-training',
             train_command(args.sls_config, root / 'sls', args.gpus,
                           [*sls_options, f'load_from={petl_checkpoint}']))
    sls_checkpoint = last_checkpoint(root / 'sls')
    summary['sls_checkpoint'] = str(sls_checkpoint)
    summary['sls_decision'] = sls_decision(root / 'sls')

    tests = [('test: pruned model', args.sls_config, sls_checkpoint, 'test', sls_options)]
    if args.test_petl:
        tests.append(('test: PETL model', args.petl_config, petl_checkpoint, 'test_petl',
                      args.cfg_options))
    for name, config, checkpoint, folder, options in tests:
        run_step(name, test_command(config, checkpoint, root / folder, args.gpus, options,
                                    args.tta))
        summary[f'{folder}_metrics'] = json.loads((root / folder / 'metrics.json').read_text())

    (root / 'summary.json').write_text(json.dumps(summary, indent=2))
    print(f'\n=== done: {root / "summary.json"}')
    for folder in ('test_petl', 'test'):
        if f'{folder}_metrics' in summary:
            print(f'{folder}: {summary[f"{folder}_metrics"]}')


if __name__ == '__main__':
    main()
