"""Inference throughput of ViT-B/16: plain vs RepAdapter (unmerged, merged) vs Convpass.

    python tools/benchmarks/bench_adapters.py [--batch-size 8] [--size 224] [--rounds 7]
                                              [--threads 2] [--clock wall|cpu]
    python tools/benchmarks/bench_adapters.py --device cuda --batch-size 64 --dtype fp16

All variants are measured in one run, interleaved round by round with the order rotated each round
(``mmsls.benchmark``). "vs plain" is the median over rounds of plain time / variant time within
the same round, with its quartiles; "RepAdapter merged" has exactly the plain structure, so its
spread around 1.0 shows the measurement noise. Adapters get random non-zero weights, so the merged
model is checked against the unmerged one too (in fp32). On the
CPU ``--clock cpu`` reports the process's CPU time instead of wall time: with ``--threads 1`` that
is the work done, however busy the machine is. On CUDA the times are CUDA-event times after the
warm-up. ``--quick``: a 2-layer, 64-dim ViT on 32 px images.
"""
import argparse
import copy
import statistics

import torch

from mmsls.adapters import AdaptedBackbone, merge_adapters
from mmsls.benchmark import (add_timing_arguments, default_warmup_iters, describe_device,
                             interleaved_rounds, parse_device, parse_dtype, precision)
from mmsls.registry import MODELS

VIT_B16 = dict(type='mmpretrain.VisionTransformer', arch='b', img_size=224, patch_size=16)
QUICK_VIT = dict(type='mmpretrain.VisionTransformer', img_size=32, patch_size=16,
                 arch=dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, help='image size (default: 224; quick: 32)')
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                        help='CPU runs: wall-clock or process CPU time')
    add_timing_arguments(parser, batch_size=8, rounds=7, threads=2)
    return parser.parse_args()


def adapted(backbone, adapter_type):
    model = AdaptedBackbone(backbone, dict(type=adapter_type))
    with torch.no_grad():
        for adapter in model.adapters():
            for param in adapter.parameters():
                param.normal_(std=0.02)
    return model


def main():
    args = parse_args()
    device, dtype = parse_device(args.device), parse_dtype(args.dtype)
    warmup, iters = default_warmup_iters(device, args.warmup, args.iters)
    backbone = QUICK_VIT if args.quick else VIT_B16
    size = args.size or (32 if args.quick else 224)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    repadapter = adapted(backbone, 'RepAdapter')
    merged = copy.deepcopy(repadapter)
    num_merged = merge_adapters(merged)
    variants = {
        'plain': MODELS.build(backbone),
        'RepAdapter unmerged': repadapter,
        'RepAdapter merged': merged,
        'Convpass': adapted(backbone, 'Convpass'),
    }
    x = torch.randn(args.batch_size, 3, size, size)
    with torch.inference_mode():
        for model in variants.values():
            model.eval()
        (reference, ), (folded, ) = repadapter(x), merged(x)
        merge_error = ((reference - folded).norm() / reference.norm()).item()
    x = x.to(device)
    for model in variants.values():
        model.to(device)

    def forward(model):
        def run():
            with torch.inference_mode(), precision(device, dtype):
                model(x)
        return run

    times = interleaved_rounds({name: forward(model) for name, model in variants.items()},
                               device, args.rounds, iters, warmup)
    clock = 'cuda' if device.type == 'cuda' else args.clock
    times = times[clock]
    print(f'ViT-B/16{" (quick: 2 x 64)" if args.quick else ""}, batch {args.batch_size}, '
          f'{size}x{size}, {args.dtype}{" autocast" if args.dtype != "fp32" else ""}, '
          f'{describe_device(device)}, {args.rounds} interleaved '
          f'rounds of {iters} forward(s) after {warmup} warm-up, {clock} clock')
    print(f'merged {num_merged} RepAdapters; merged vs unmerged output: {merge_error:.2e} '
          'relative error')
    print(f'{"variant":<22}{"median s":>10}{"images/s":>10}{"vs plain":>10}{"quartiles":>16}')
    for name, samples in times.items():
        median = statistics.median(samples)
        ratios = [plain / own for plain, own in zip(times['plain'], samples)]
        low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(f'{name:<22}{median:>10.4f}{args.batch_size / median:>10.2f}'
              f'{statistics.median(ratios):>10.3f}{f"{low:.3f}-{high:.3f}":>16}')


if __name__ == '__main__':
    main()
