"""Throughput of ViT-B/16 pruned to k layers against the ideal speed-up from counted FLOPs.

    python tools/benchmarks/bench_depth.py [--depths 12 10 8 6] [--rounds 5] [--threads 1]
    python tools/benchmarks/bench_depth.py --device cuda --batch-size 64 --dtype fp16

Builds mmpretrain's ViT-B/16 classifier (224 px, 1000 classes) once, prunes copies with
``mmsls.depth.prune_depth`` to the first k layers, counts each model's multiply-accumulates, and
times inference on one batch (``mode='tensor'``). The variants are interleaved within every round (in a
rotating order) and the median per variant is taken (``mmsls.benchmark``), so load from other
processes on a shared machine hits all variants alike. Prints, per k: median seconds per batch,
images/s, the measured speed-up over the unpruned model, the ideal speed-up (the MAC ratio) and
measured / ideal; on the CPU for wall-clock and process CPU time (with one thread, CPU time is the
cost of the forward itself even when other processes load the machine), on CUDA for CUDA-event
time after the warm-up. ``--quick``: a 4-layer, 64-dim ViT on 32 px images.
"""
import argparse
import copy
import statistics

import torch
from mmengine.registry import DefaultScope, MODELS
from mmpretrain.models.utils import MultiheadAttention
from torch import nn

from mmsls.benchmark import (add_timing_arguments, default_warmup_iters, describe_device,
                             interleaved_rounds, parse_device, parse_dtype, precision)
from mmsls.depth import depth_keep, prune_depth

QUICK_ARCH = dict(embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=128)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--depths', type=int, nargs='+', help='kept depths (default: 12 10 8 6; '
                        'quick: 4 2)')
    add_timing_arguments(parser, batch_size=8, rounds=5)
    return parser.parse_args()


def vit_classifier(quick: bool) -> nn.Module:
    arch, size = (QUICK_ARCH, 32) if quick else ('b', 224)
    channels = QUICK_ARCH['embed_dims'] if quick else 768
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='VisionTransformer', arch=arch, img_size=size, patch_size=16),
            head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=channels)))
    model.eval()
    return model


def count_macs(model: nn.Module, images: torch.Tensor) -> int:
    """Multiply-accumulates of one forward: every Linear and Conv2d as run (counted by hooks), plus
    the two attention products (q @ k^T and attn @ v, N x N x C each per layer), which run inside
    ``scaled_dot_product_attention`` where no module hook sees them."""
    macs = []

    def linear(module, inputs, output):
        macs.append(output.numel() * module.in_features)

    def conv(module, inputs, output):
        kernel = module.kernel_size[0] * module.kernel_size[1]
        macs.append(output.numel() * kernel * module.in_channels // module.groups)

    def attention(module, inputs, output):
        batch, tokens, channels = inputs[0].shape
        macs.append(2 * batch * tokens * tokens * channels)

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear))
        elif isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv))
        elif isinstance(module, MultiheadAttention):
            handles.append(module.register_forward_hook(attention))
    with torch.inference_mode():
        model(images, mode='tensor')
    for handle in handles:
        handle.remove()
    return sum(macs)


def main():
    args = parse_args()
    device, dtype = parse_device(args.device), parse_dtype(args.dtype)
    warmup, iters = default_warmup_iters(device, args.warmup, args.iters)
    depths = args.depths or ([4, 2] if args.quick else [12, 10, 8, 6])
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = vit_classifier(args.quick)
    size = 32 if args.quick else 224
    images = torch.randn(args.batch_size, 3, size, size)
    models = {}
    for depth in depths:
        model = copy.deepcopy(base)
        prune_depth(model, depth_keep(model, depth))
        models[depth] = model
    del base
    macs = {depth: count_macs(model, images) for depth, model in models.items()}  # CPU, fp32
    images = images.to(device)
    for model in models.values():
        model.to(device)

    def forward(model):
        def run():
            with torch.inference_mode(), precision(device, dtype):
                model(images, mode='tensor')
        return run

    times = interleaved_rounds({depth: forward(model) for depth, model in models.items()},
                               device, args.rounds, iters, warmup)
    reference = max(models)
    print(f'ViT-B/16{" (quick: 4 x 64)" if args.quick else ""}, batch {args.batch_size} at '
          f'{size} px, {args.dtype}{" autocast" if args.dtype != "fp32" else ""}, '
          f'{describe_device(device)}, {args.rounds} interleaved rounds '
          f'of {iters} forward(s) after {warmup} warm-up, median per variant')
    for clock, samples in times.items():
        median = {depth: statistics.median(values) for depth, values in samples.items()}
        print(f'{clock} time:')
        print(f'{"k":>3} {"GMACs":>7} {"s/batch":>8} {"img/s":>8} {"speed-up":>9} {"ideal":>6} '
              f'{"measured/ideal":>15}')
        for depth in models:
            speedup = median[reference] / median[depth]
            ideal = macs[reference] / macs[depth]
            print(f'{depth:>3} {macs[depth] / 1e9:>7.2f} {median[depth]:>8.4f} '
                  f'{args.batch_size / median[depth]:>8.1f} {speedup:>8.3f}x {ideal:>5.3f}x '
                  f'{speedup / ideal:>15.3f}')


if __name__ == '__main__':
    main()
