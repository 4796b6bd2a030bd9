"""Throughput of ViT-B/16 pruned to k layers against the ideal speed-up from counted FLOPs.

    python tools/benchmarks/bench_depth.py [--depths 12 10 8 6] [--rounds 5] [--threads 1]

Builds mmpretrain's ViT-B/16 classifier (224 px, 1000 classes) once, prunes copies with
``mmsls.depth.prune_depth`` to the first k layers, counts each model's multiply-accumulates, and times
inference on one batch. The variants are interleaved within every round (in a rotating order) and the
median per variant is taken, so load from other processes on a shared machine hits all variants alike.
Prints, per k and for wall-clock and process CPU time: median seconds per batch, images/s, the measured
speed-up over the unpruned model, the ideal speed-up (the MAC ratio) and measured / ideal. With one
thread, CPU time is the cost of the forward itself even when other processes load the machine.
"""
import argparse
import copy
import statistics
import time
from typing import Tuple

import torch
from mmengine.registry import DefaultScope, MODELS
from mmpretrain.models.utils import MultiheadAttention
from torch import nn

from mmsls.depth import depth_keep, prune_depth


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--depths', type=int, nargs='+', default=[12, 10, 8, 6])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--threads', type=int, default=1)
    return parser.parse_args()


def vit_b16_classifier() -> nn.Module:
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='VisionTransformer', arch='b', img_size=224, patch_size=16),
            head=dict(type='VisionTransformerClsHead', num_classes=1000, in_channels=768)))
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


def seconds_per_batch(model: nn.Module, images: torch.Tensor) -> Tuple[float, float]:
    """Wall-clock and CPU seconds of one forward."""
    with torch.inference_mode():
        wall, cpu = time.perf_counter(), time.process_time()
        model(images, mode='tensor')
        return time.perf_counter() - wall, time.process_time() - cpu


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images = torch.randn(args.batch_size, 3, 224, 224)
    base = vit_b16_classifier()
    models = {}
    for depth in args.depths:
        model = copy.deepcopy(base)
        prune_depth(model, depth_keep(model, depth))
        models[depth] = model
    del base
    macs = {depth: count_macs(model, images) for depth, model in models.items()}

    for model in models.values():  # warm-up
        seconds_per_batch(model, images)
    times = {depth: [] for depth in models}
    order = list(models)
    for round_index in range(args.rounds):
        rotated = order[round_index % len(order):] + order[:round_index % len(order)]
        for depth in rotated:
            times[depth].append(seconds_per_batch(models[depth], images))

    reference = max(models)
    print(f'ViT-B/16, batch {args.batch_size} at 224 px, {args.threads} thread(s), '
          f'{args.rounds} interleaved rounds, median per variant')
    # CPU time is what the forward itself costs; wall time also holds the waits for a core when other
    # processes share the machine.
    for clock, index in (('wall', 0), ('CPU', 1)):
        median = {depth: statistics.median(t[index] for t in values) for depth, values in times.items()}
        print(f'{clock} time:')
        print(f'{"k":>3} {"GMACs":>7} {"s/batch":>8} {"img/s":>7} {"speed-up":>9} {"ideal":>6} '
              f'{"measured/ideal":>15}')
        for depth in models:
            speedup = median[reference] / median[depth]
            ideal = macs[reference] / macs[depth]
            print(f'{depth:>3} {macs[depth] / 1e9:>7.2f} {median[depth]:>8.3f} '
                  f'{args.batch_size / median[depth]:>7.2f} {speedup:>8.3f}x {ideal:>5.3f}x '
                  f'{speedup / ideal:>15.3f}')


if __name__ == '__main__':
    main()
