"""Inference throughput of ViT-B/16: plain vs RepAdapter (unmerged, merged) vs Convpass.

    python tools/benchmarks/bench_adapters.py [--batch 8] [--size 224] [--rounds 7] [--threads 2]
                                              [--clock wall|cpu]

All variants are measured in one run, interleaved round by round with the order rotated each round
(the machine is shared). "vs plain" is the median over rounds of plain time / variant time within
the same round, with its quartiles; "RepAdapter merged" has exactly the plain structure, so its
spread around 1.0 shows the measurement noise. Adapters get random non-zero weights, so the merged
model is checked against the unmerged one too. ``--clock cpu`` times with the process's CPU time
instead of wall time: with ``--threads 1`` that is the work done, however busy the machine is.
"""
import argparse
import copy
import statistics
import time

import torch

from mmsls.adapters import AdaptedBackbone, merge_adapters
from mmsls.registry import MODELS

VIT_B16 = dict(type='mmpretrain.VisionTransformer', arch='b', img_size=224, patch_size=16)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--rounds', type=int, default=7)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall')
    return parser.parse_args()


def adapted(adapter_type):
    model = AdaptedBackbone(VIT_B16, dict(type=adapter_type))
    with torch.no_grad():
        for adapter in model.adapters():
            for param in adapter.parameters():
                param.normal_(std=0.02)
    return model


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    repadapter = adapted('RepAdapter')
    merged = copy.deepcopy(repadapter)
    num_merged = merge_adapters(merged)
    variants = {
        'plain': MODELS.build(VIT_B16),
        'RepAdapter unmerged': repadapter,
        'RepAdapter merged': merged,
        'Convpass': adapted('Convpass'),
    }
    for model in variants.values():
        model.eval()
    x = torch.randn(args.batch, 3, args.size, args.size)
    clock = time.perf_counter if args.clock == 'wall' else time.process_time

    with torch.inference_mode():
        (reference, ), (folded, ) = repadapter(x), merged(x)
        merge_error = ((reference - folded).norm() / reference.norm()).item()
        for model in variants.values():  # warm-up
            model(x)
        times = {name: [] for name in variants}
        names = list(variants)
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                start = clock()
                variants[name](x)
                times[name].append(clock() - start)

    print(f'ViT-B/16, batch {args.batch}, {args.size}x{args.size}, {args.threads} threads, '
          f'{args.rounds} interleaved rounds, {args.clock} clock, torch {torch.__version__}')
    print(f'merged {num_merged} RepAdapters; merged vs unmerged output: {merge_error:.2e} '
          'relative error')
    print(f'{"variant":<22}{"median s":>10}{"images/s":>10}{"vs plain":>10}{"quartiles":>16}')
    for name, samples in times.items():
        median = statistics.median(samples)
        ratios = [plain / own for plain, own in zip(times['plain'], samples)]
        low, _, high = statistics.quantiles(ratios, n=4)
        print(f'{name:<22}{median:>10.3f}{args.batch / median:>10.2f}'
              f'{statistics.median(ratios):>10.3f}{f"{low:.3f}-{high:.3f}":>16}')


if __name__ == '__main__':
    main()
