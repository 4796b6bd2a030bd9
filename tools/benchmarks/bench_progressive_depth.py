"""One-shot SLS, iterative SLS and SLS + progressive removal at the same kept depth.

On the digits demo (configs/demo/): from the demo's PETL model (RepAdapter, digit parity), SLS decides
the kept depth k once (tools/analyze_layers.py with the SLS stage's settings); then every variant
re-trains the adapters and the head for the same number of iterations (the SLS stage's schedule) and
is scored on the test split at the end:

- ``none``: no pruning, the same re-training (the ceiling);
- ``one-shot``: the layers above k are removed before re-training (``SLSHook(keep=k)``);
- ``iterative``: they are removed one at a time, the top one first, spread over the first
  ``--fade-epochs`` (``SLSHook(keep=k, iterative=True)``);
- ``progressive``: they fade out over the first ``--fade-epochs`` (cosine) and are then removed
  (``ProgressiveDepthHook(depth=k)``).

Variants are interleaved per seed (the training seed changes the data order and the drop path).
Every run goes through tools/train.py; the accuracy is the final validation on the test split.

    python tools/benchmarks/bench_progressive_depth.py --pretrain PRETRAIN.pth --petl PETL.pth \
        [--seeds 0 1 2] [--epochs 10] [--fade-epochs 5] [--work-dir work_dirs/bench_progressive]

PRETRAIN.pth / PETL.pth are the checkpoints of the demo's stages (a) and (b)
(configs/demo/vit_digits_pretrain.py, configs/demo/vit_repadapter_parity.py).

``--quick`` (tests, CPU, about 40 s on 2 cores): trains its own PRETRAIN / PETL checkpoints with
those two configs when ``--pretrain`` / ``--petl`` are not given, then runs every stage on 64
training and 64 test images, batch 16 (1 epoch of 4 iterations, constant lr, removal over that
epoch), 1 seed, two variants at a time, 100 images for the analysis, and keeps ``--depth`` (default
6 of 8) layers whatever SLS decides on the untrained model: the figures mean nothing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

import mmsls  # noqa: F401  (allow-lists MMEngine's checkpoint types for torch.load)

REPO = Path(__file__).resolve().parents[2]
SLS_CONFIG = REPO / 'configs/demo/vit_repadapter_parity_sls.py'
VARIANTS = ('none', 'one-shot', 'iterative', 'progressive')
ITERS_PER_EPOCH = 22  # 1347 digits training images, batch 64, last batch kept
PRETRAIN_CONFIG = REPO / 'configs/demo/vit_digits_pretrain.py'
PETL_CONFIG = REPO / 'configs/demo/vit_repadapter_parity.py'
#: ``--quick``: training and validation images, batch size, iterations per epoch, analysis samples,
#: default kept depth (the untrained model's SLS decision may keep every layer).
QUICK_IMAGES, QUICK_BATCH = 64, 16
QUICK_ITERS_PER_EPOCH = QUICK_IMAGES // QUICK_BATCH
QUICK_SAMPLES = 100
QUICK_DEPTH = 6
QUICK_OVERRIDES = (
    f'train_dataloader = dict(batch_size={QUICK_BATCH}, dataset=dict(indices={QUICK_IMAGES}))\n'
    f'val_dataloader = dict(dataset=dict(indices={QUICK_IMAGES}))\n'
    'train_cfg = dict(max_epochs=1, val_interval=1)\n'
    'param_scheduler = []\n')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pretrain', help='checkpoint of the demo stage (a)')
    parser.add_argument('--petl', help='checkpoint of the demo stage (b)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=10, help='re-training epochs, every variant')
    parser.add_argument('--fade-epochs', type=int, default=5,
                        help='epochs over which iterative removes and progressive fades')
    parser.add_argument('--depth', type=int,
                        help="kept depth of every variant (default: SLS's decision)")
    parser.add_argument('--threads', type=int, default=1, help='CPU threads per run')
    parser.add_argument('--device', choices=['cpu', 'cuda'],
                        help='where every run trains and analyses (default: cuda when present; '
                        'cpu hides the GPUs from the runs)')
    parser.add_argument('--work-dir', default='work_dirs/bench_progressive')
    parser.add_argument('--quick', action='store_true',
                        help='tiny schedule for tests; trains its own checkpoints when '
                        '--pretrain/--petl are not given')
    args = parser.parse_args()
    if not args.quick and (args.pretrain is None or args.petl is None):
        parser.error('--pretrain and --petl are required (unless --quick)')
    if args.quick:
        args.seeds, args.epochs, args.fade_epochs = args.seeds[:1], 1, 1
        if args.depth is None:
            args.depth = QUICK_DEPTH
    return args


def run_tool(tool, *args, env, log):
    start = time.perf_counter()
    with open(log, 'w') as file:
        proc = subprocess.run([sys.executable, str(REPO / 'tools' / tool), *map(str, args)],
                              cwd=REPO, env=env, stdout=file, stderr=subprocess.STDOUT)
    if proc.returncode:
        raise RuntimeError(f'{tool} failed, see {log}')
    return time.perf_counter() - start


def decide_depth(args, work_dir, env):
    """SLS's kept depth on the PETL model, with the SLS stage's own analysis settings."""
    out = work_dir / 'analysis'
    run_tool('analyze_layers.py', SLS_CONFIG, args.petl, '--alpha', 0.3,
             '--num-samples', QUICK_SAMPLES if args.quick else 500,
             '--backend', 'sklearn', '--seed', 0, '--pipeline', 'test', '--work-dir', out,
             '--cfg-options', f'model.backbone.init_cfg.checkpoint={args.pretrain}', env=env,
             log=work_dir / 'analysis.log')
    report = json.loads((out / 'sls_scores.json').read_text())
    return report['kept_depth'], len(report['units'])


def variant_hooks(variant, depth, num_layers, args):
    if variant == 'none':
        return []
    if variant == 'one-shot':
        return [dict(type='mmsls.SLSHook', keep=depth)]
    if variant == 'iterative':
        iters = QUICK_ITERS_PER_EPOCH if args.quick else ITERS_PER_EPOCH
        interval = max(1, args.fade_epochs * iters // (num_layers - depth))
        return [dict(type='mmsls.SLSHook', keep=depth, iterative=True, iterative_interval=interval)]
    return [dict(type='mmsls.ProgressiveDepthHook', depth=depth, begin=0, span=args.fade_epochs,
                 by='epoch', schedule='cosine')]


def write_config(path, hooks, epochs, quick=False):
    if quick:
        path.write_text(f"_base_ = ['{SLS_CONFIG}']\ncustom_hooks = {hooks!r}\n" + QUICK_OVERRIDES)
        return
    path.write_text(
        f"_base_ = ['{SLS_CONFIG}']\n"
        f'custom_hooks = {hooks!r}\n'
        f'train_cfg = dict(max_epochs={epochs}, val_interval={epochs})\n'
        'param_scheduler = [\n'
        "    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,\n"
        '         convert_to_iter_based=True),\n'
        f"    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end={epochs},\n"
        '         convert_to_iter_based=True),\n'
        ']\n')


def train_variant(variant, seed, depth, num_layers, args, work_dir, env):
    """One re-training run; its time goes to ``<run dir>/bench_run.json``."""
    run_dir = work_dir / f'{variant}_seed{seed}'
    config = work_dir / f'{variant}.py'
    write_config(config, variant_hooks(variant, depth, num_layers, args), args.epochs, args.quick)
    seconds = run_tool(
        'train.py', config, '--work-dir', run_dir, '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={args.pretrain}',
        f'load_from={args.petl}', f'randomness.seed={seed}', env=env,
        log=work_dir / f'{variant}_seed{seed}.log')
    (run_dir / 'bench_run.json').write_text(json.dumps(dict(seconds=seconds)))


def final_accuracy(run_dir):
    """The last validation accuracy of a run, from MMEngine's scalars.json."""
    scalars = sorted(run_dir.glob('*/vis_data/scalars.json'))[-1]
    records = [json.loads(line) for line in scalars.read_text().splitlines()]
    return [record for record in records if 'accuracy/top1' in record][-1]['accuracy/top1']


def quick_checkpoints(args, work_dir, env):
    """``--quick``: the demo's stages (a) and (b) on the tiny schedule, for the missing checkpoints."""
    if args.pretrain is None:
        config = work_dir / 'quick_pretrain.py'
        config.write_text(f"_base_ = ['{PRETRAIN_CONFIG}']\n" + QUICK_OVERRIDES)
        run_tool('train.py', config, '--work-dir', work_dir / 'pretrain', env=env,
                 log=work_dir / 'pretrain.log')
        args.pretrain = (work_dir / 'pretrain' / 'last_checkpoint').read_text().strip()
    if args.petl is None:
        config = work_dir / 'quick_petl.py'
        config.write_text(f"_base_ = ['{PETL_CONFIG}']\n" + QUICK_OVERRIDES)
        run_tool('train.py', config, '--work-dir', work_dir / 'petl', '--cfg-options',
                 f'model.backbone.init_cfg.checkpoint={args.pretrain}', env=env,
                 log=work_dir / 'petl.log')
        args.petl = (work_dir / 'petl' / 'last_checkpoint').read_text().strip()


def kept_layers(checkpoint):
    """Original indices of the ViT layers a checkpoint holds."""
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)['state_dict']
    return sorted({int(key.split('.')[2]) for key in state if key.startswith('backbone.layers.')})


def main():
    args = parse_args()
    work_dir = (REPO / args.work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    if args.device == 'cpu':  # tools/train.py and analyze_layers.py take CUDA when they see it
        env['CUDA_VISIBLE_DEVICES'] = ''
    elif args.device == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: CUDA is not available on this machine; use --device cpu')
    if args.quick:
        quick_checkpoints(args, work_dir, env)
    depth, num_layers = decide_depth(args, work_dir, env)
    print(f'SLS on the PETL model: keep {depth} of {num_layers} layers')
    if args.depth is not None:
        depth = args.depth
        print(f'--depth: every variant keeps {depth} layers instead')
    if depth == num_layers:
        raise SystemExit('SLS keeps every layer: nothing to compare')
    results = {variant: [] for variant in VARIANTS}
    if args.quick:  # two runs at a time: a quick run's timings mean nothing anyway
        seed = args.seeds[0]
        todo = [variant for variant in VARIANTS
                if not (work_dir / f'{variant}_seed{seed}' / 'bench_run.json').is_file()]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda variant: train_variant(variant, seed, depth, num_layers, args,
                                                        work_dir, env), todo))
    for seed in args.seeds:
        order = VARIANTS[seed % len(VARIANTS):] + VARIANTS[:seed % len(VARIANTS)]
        for variant in order:
            run_dir = work_dir / f'{variant}_seed{seed}'
            done = run_dir / 'bench_run.json'
            if not done.is_file():  # else a finished run of an interrupted benchmark
                train_variant(variant, seed, depth, num_layers, args, work_dir, env)
            seconds = json.loads(done.read_text())['seconds']
            accuracy = final_accuracy(run_dir)
            layers = kept_layers(run_dir / f'epoch_{args.epochs}.pth')
            results[variant].append(dict(seed=seed, accuracy=accuracy, seconds=seconds,
                                         layers=layers))
            print(f'seed {seed} {variant:>11}: accuracy {accuracy:.2f}, {len(layers)} layers, '
                  f'{seconds:.0f} s', flush=True)
    iters = QUICK_ITERS_PER_EPOCH if args.quick else ITERS_PER_EPOCH
    print(f'\nkept depth {depth} of {num_layers}; {args.epochs} re-training epochs '
          f'({args.epochs * iters} iterations); removal spread over {args.fade_epochs} '
          f'epochs; seeds {args.seeds}')
    print(f'{"variant":>11} | {"layers":>6} | {"accuracy mean":>13} | {"std":>5} | per seed')
    for variant, runs in results.items():
        accuracies = [run['accuracy'] for run in runs]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        print(f'{variant:>11} | {len(runs[0]["layers"]):>6} | {statistics.mean(accuracies):>13.2f} | '
              f'{spread:>5.2f} | {", ".join(f"{a:.2f}" for a in accuracies)}')
    (work_dir / 'results.json').write_text(json.dumps(
        dict(kept_depth=depth, num_layers=num_layers, epochs=args.epochs,
             fade_epochs=args.fade_epochs, results=results), indent=2))


if __name__ == '__main__':
    main()
