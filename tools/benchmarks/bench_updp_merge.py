"""UPDP's block merge vs block removal vs no pruning, at the same fine-tuning budget.

On the digits data (mmsls.DigitsDataset, digit identity, 10 classes), for a small ViT (the demo's,
8 blocks of 64 dims) and a small CNN (``resnet18``: mmpretrain's ResNet_CIFAR-18 with 16 base
channels; ``mobilenet_v2``: MobileNetV2 width 0.5, which barely trains from scratch in this budget):
the model is trained from scratch once (seed 0), then fine-tuned from that checkpoint for the same
number of epochs by every variant:

- ``none``: no pruning, the same fine-tuning;
- ``remove``: ``ProgressiveDepthHook(mode='remove')`` fades the chosen blocks out over the first
  ``--fade-epochs`` (cosine) and deletes them;
- ``merge``: ``ProgressiveDepthHook(mode='merge')`` blends the same blocks into their linear form over
  the same epochs and merges them (UPDP).

Both prune the same blocks (``BLOCKS``: blocks removal can take, so the comparison is about the
mechanism). Every variant runs with ``--seeds`` (data order, drop path, augmentation). Accuracy is
the final validation on the test split; FLOPs (MMEngine's FlopAnalyzer, one 32x32 image) and CPU
throughput (images/s, eval mode, batch 64, ``--threads`` threads, variants interleaved over
``--rounds``, median) are measured on the seed-0 models in this one run.

    python tools/benchmarks/bench_updp_merge.py [--models vit resnet18] [--seeds 0 1 2] \
        [--pretrain-epochs 15] [--epochs 6] [--fade-epochs 3] [--work-dir work_dirs/bench_updp]

``--quick`` (tests, CPU): 1 seed, 1 epoch of 2 iterations per stage: the figures mean nothing.
"""
import argparse
import copy
import os
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
BASE_CONFIG = REPO / 'configs/demo/_digits_vit.py'
VARIANTS = ('none', 'remove', 'merge')
BLOCKS = {
    'vit': ['layers.2', 'layers.4', 'layers.6'],
    'mobilenet_v2': ['layer3.2', 'layer4.2', 'layer4.3', 'layer6.2'],
    'resnet18': ['layer1.1', 'layer2.1', 'layer3.1'],
}
MOBILENET = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=10, mean=[127.5] * 3, std=[127.5] * 3),
    backbone=dict(type='MobileNetV2', widen_factor=0.5, out_indices=(7, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=1280,
              loss=dict(type='CrossEntropyLoss')))


RESNET = dict(MOBILENET, backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=16,
                                       stem_channels=16, out_indices=(3, )),
              head=dict(MOBILENET['head'], in_channels=128))
MODELS = dict(mobilenet_v2=MOBILENET, resnet18=RESNET)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', choices=sorted(BLOCKS), default=['vit', 'resnet18'])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--pretrain-epochs', type=int, default=15)
    parser.add_argument('--epochs', type=int, default=6, help='fine-tuning epochs, every variant')
    parser.add_argument('--fade-epochs', type=int, default=3,
                        help='epochs over which remove fades and merge linearises')
    parser.add_argument('--rounds', type=int, default=5, help='throughput rounds per variant')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads')
    parser.add_argument('--quick', action='store_true', help='tiny schedule for tests')
    parser.add_argument('--work-dir', default='work_dirs/bench_updp')
    return parser.parse_args()


def run_config(kind, work_dir, seed, epochs, hook=None, load_from=None, quick=False):
    from mmengine.config import Config
    cfg = Config.fromfile(str(BASE_CONFIG))
    if kind in MODELS:
        cfg.model = copy.deepcopy(MODELS[kind])
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = f'{Path(work_dir).name}_{time.time_ns()}'
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.load_from = load_from
    cfg.log_level = 'WARNING'
    cfg.custom_hooks = [hook] if hook else []
    if quick:
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2 * epochs, val_interval=10 ** 6)
        cfg.param_scheduler = []
        cfg.val_dataloader.dataset.indices = 64
        cfg.train_dataloader.dataset.indices = 64
        cfg.train_dataloader.batch_size = 16
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2 * epochs)
    else:
        cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=epochs)
        warmup = 1 if epochs > 1 else 0     # one warm-up epoch, then cosine
        cfg.param_scheduler = [
            dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=warmup, end=epochs,
                 convert_to_iter_based=True)]
        if warmup:
            cfg.param_scheduler.insert(0, dict(type='LinearLR', start_factor=1e-2, by_epoch=True,
                                               begin=0, end=1, convert_to_iter_based=True))
    return cfg


def train(cfg):
    """Train, then validate on the test split; the runner and its top-1 accuracy."""
    from mmsls.runner import build_runner
    runner = build_runner(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    return runner, float(metrics['accuracy/top1'])


def variant_hook(variant, kind, args):
    if variant == 'none':
        return None
    hook = dict(type='mmsls.ProgressiveDepthHook', mode=variant, blocks=BLOCKS[kind], begin=0,
                schedule='cosine')
    if args.quick:
        return dict(hook, span=1, by='iter', **({'calibrate_samples': 16} if variant == 'merge'
                                                else {}))
    return dict(hook, span=args.fade_epochs, by='epoch')


def flops(model):
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model, (torch.zeros(1, 3, 32, 32), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return float(analyzer.total())


def throughput(models, rounds, batch=64, forwards=10):
    """Images/s of each model (median over rounds; the models interleaved within each round)."""
    images = torch.randn(batch, 3, 32, 32)
    times = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():
            for _ in range(3):
                model(images)
        for _ in range(rounds):
            for name, model in models.items():
                start = time.perf_counter()
                for _ in range(forwards):
                    model(images)
                times[name].append(batch * forwards / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    import mmsls  # noqa: F401  (registers mmsls's modules and allow-lists checkpoint types)
    if args.quick:
        args.seeds, args.pretrain_epochs, args.epochs, args.rounds = args.seeds[:1], 1, 1, 1
    work = Path(args.work_dir)
    rows = []
    for kind in args.models:
        start = time.perf_counter()
        pre_cfg = run_config(kind, work / kind / 'pretrain', 0, args.pretrain_epochs,
                             quick=args.quick)
        _, pre_accuracy = train(pre_cfg)
        checkpoint = sorted((work / kind / 'pretrain').glob('*.pth'),
                            key=os.path.getmtime)[-1]
        accuracy, final = {variant: [] for variant in VARIANTS}, {}
        for seed in args.seeds:
            for variant in VARIANTS:
                cfg = run_config(kind, work / kind / f'{variant}_seed{seed}', seed, args.epochs,
                                 hook=variant_hook(variant, kind, args), load_from=str(checkpoint),
                                 quick=args.quick)
                runner, top1 = train(cfg)
                accuracy[variant].append(top1)
                if seed == args.seeds[0]:
                    final[variant] = runner.model.eval()
        speed = throughput(final, args.rounds)
        costs = {variant: flops(model) for variant, model in final.items()}
        for variant in VARIANTS:
            values = accuracy[variant]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            rows.append((kind, variant, statistics.mean(values), spread, values,
                         costs[variant] / 1e6, costs[variant] / costs['none'], speed[variant],
                         speed[variant] / speed['none']))
        print(f'{kind}: pretrained {pre_accuracy:.2f}% top-1, stage wall time '
              f'{time.perf_counter() - start:.0f} s', flush=True)
    print(f'\nseeds {args.seeds}, pretrain {args.pretrain_epochs} epochs, fine-tune {args.epochs} '
          f'epochs (fade {args.fade_epochs}), {args.threads} thread(s), throughput at batch 64\n')
    print('| model | variant | top-1 % (mean ± sd) | per seed | MFLOPs | FLOPs ratio | images/s '
          '| speed ratio |')
    print('|---|---|---|---|---|---|---|---|')
    for kind, variant, mean, spread, values, mflops, ratio, speed, speed_ratio in rows:
        print(f'| {kind} | {variant} | {mean:.2f} ± {spread:.2f} | '
              f'{", ".join(f"{value:.2f}" for value in values)} | {mflops:.3f} | {ratio:.3f} | '
              f'{speed:.0f} | {speed_ratio:.3f} |')


if __name__ == '__main__':
    main()
