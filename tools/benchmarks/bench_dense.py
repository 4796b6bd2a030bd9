"""Dense-task throughput after SLS pruning: RetinaNet Swin-T and SETR-PUP ViT-L, as in the paper.

    python tools/benchmarks/bench_dense.py --device cuda [--batch-size 2] [--dtype fp16]
    python tools/benchmarks/bench_dense.py --quick --device cpu

Builds the project's RepAdapter recipes with random weights (``configs/adapters/``: RetinaNet with
Swin-T at 800 x 1333, padded to 800 x 1344 as mmdet's data preprocessor pads to multiples of 32;
SETR-PUP with ViT-L at 512 x 512), merges the adapters (``merge_adapters``: structurally the plain
models), and prunes copies by the paper's numbers of blocks (Swin-T: 2 and 4, Table 6; ViT-L: 6
and 8, Table 7) the way the SLS hook prunes: ``depth_keep(model, k)`` keeps the first k units plus
every required one (the first block of a Swin stage), with the largest k that removes that many.
Every variant runs the whole model in tensor mode (``model(inputs, mode='tensor')``: backbone,
neck, head; no pre- or post-processing); the variants are interleaved per round, medians of
CUDA-event (CPU: wall) times. Printed per variant: FLOPs of one image (``torch.utils.flop_counter``,
whole model), speed-up over the unpruned merged model, the FLOP-ideal speed-up (the FLOP ratio),
measured / ideal, and the paper's speed-up. ``--quick``: the tiny configs (``configs/_tiny_/``,
64 x 64, Swin with depths (2, 2, 2, 2), 6-layer ViT) pruned by 1 and 2 units.
"""
import argparse
import copy
import statistics
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmsls  # noqa: F401  (registers mmsls's modules)
from mmsls.adapters import merge_adapters
from mmsls.benchmark import (add_timing_arguments, count_flops, default_warmup_iters,
                             describe_device, interleaved_rounds, parse_device, parse_dtype,
                             precision)
from mmsls.depth import depth_keep, prunable_units, prune_depth

REPO = Path(__file__).resolve().parents[2]
ADAPTER = dict(type='RepAdapter', hidden_dims=8, groups=2, dropout=0.1, scale=1.0)

# name: (config, quick config, input (H, W), quick input, units removed: paper speed-up)
CASES = {
    'retinanet_swin-t': ('configs/adapters/retinanet_swin-t_repadapter_coco.py',
                         'configs/_tiny_/swin_retinanet.py', (800, 1344), (64, 64),
                         {2: 1.22, 4: 1.43}),
    'setr-pup_vit-l': ('configs/adapters/setr_vit-l_pup_repadapter_ade20k.py',
                       'configs/_tiny_/setr_vit.py', (512, 512), (64, 64),
                       {6: 1.26, 8: 1.38}),
}
PAPER_TABLE = {'retinanet_swin-t': 'Table 6', 'setr-pup_vit-l': 'Table 7'}
QUICK_REMOVED = (1, 2)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cases', nargs='+', choices=list(CASES), default=list(CASES))
    add_timing_arguments(parser, batch_size=2, rounds=5)
    return parser.parse_args()


def build_merged(case: str, quick: bool):
    """The case's RepAdapter model with random weights, adapters merged, in eval mode."""
    config, quick_config = CASES[case][:2]
    cfg = Config.fromfile(REPO / (quick_config if quick else config))
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model_cfg = copy.deepcopy(cfg.model)
    if quick:  # the tiny configs have no adapters: wrap their backbone as the recipes do
        if case == 'retinanet_swin-t':
            model_cfg.backbone.depths = (2, 2, 2, 2)
        model_cfg.backbone = dict(type='mmsls.AdaptedBackbone', backbone=model_cfg.backbone,
                                  adapter=ADAPTER)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    with torch.no_grad():  # non-zero adapters, so that merging has something to fold
        for name, param in model.named_parameters():
            if 'adapter' in name:
                param.normal_(std=0.02)
    merge_adapters(model, strict=True)
    model.eval()  # a statement: some backbones' train() returns None
    return model


def pruned_by(model, removed: int):
    """A copy of ``model`` without ``removed`` units, chosen as the SLS hook chooses them."""
    num_units = len(prunable_units(model))
    for depth in range(num_units, 0, -1):
        keep = depth_keep(model, depth)
        if num_units - len(keep) == removed:
            pruned = copy.deepcopy(model)
            prune_depth(pruned, keep)
            return pruned, depth, keep
    raise ValueError(f'no kept depth removes exactly {removed} of the {num_units} units (required '
                     'units stay); pick another number of units to remove')


def main():
    args = parse_args()
    device, dtype = parse_device(args.device), parse_dtype(args.dtype)
    warmup, iters = default_warmup_iters(device, args.warmup, args.iters)
    torch.set_num_threads(args.threads)
    print(f'{"quick: tiny models, " if args.quick else ""}batch {args.batch_size}, {args.dtype}'
          f'{" autocast" if args.dtype != "fp32" else ""}, '
          f'{describe_device(device)}, {args.rounds} interleaved rounds of {iters} forward(s) '
          f'after {warmup} warm-up, medians; tensor mode, RepAdapter merged, random weights')
    for case in args.cases:
        *_, size, quick_size, paper = CASES[case]
        height, width = quick_size if args.quick else size
        base = build_merged(case, args.quick)
        num_units = len(prunable_units(base))
        variants = {0: (base, num_units, list(range(num_units)))}
        for removed in (QUICK_REMOVED if args.quick else paper):
            variants[removed] = pruned_by(base, removed)
        flops, forwards = {}, {}
        one_image = torch.randn(1, 3, height, width, device=device)
        images = torch.randn(args.batch_size, 3, height, width, device=device)
        for removed, (model, _, _) in variants.items():
            model.to(device)
            with torch.inference_mode():
                flops[removed] = count_flops(lambda: model(one_image, mode='tensor'))

            def forward(model=model):
                with torch.inference_mode(), precision(device, dtype):
                    model(images, mode='tensor')

            forwards[removed] = forward
        times = interleaved_rounds(forwards, device, args.rounds, iters, warmup)
        clock = 'cuda' if device.type == 'cuda' else 'wall'
        median = {removed: statistics.median(samples) for removed, samples in
                  times[clock].items()}
        print(f'\n{case} ({height} x {width}), {num_units} units; paper: {PAPER_TABLE[case]}')
        print('| removed | kept depth k | units kept | GFLOPs/image | s/batch | images/s | '
              'speed-up | FLOP-ideal | speed-up / ideal | paper speed-up |')
        print('|---|---|---|---|---|---|---|---|---|---|')
        for removed, (_, depth, keep) in variants.items():
            speedup = median[0] / median[removed]
            ideal = flops[0] / flops[removed]
            paper_speedup = '1 (reference)' if removed == 0 else (
                f'{paper[removed]:.2f}x' if removed in paper and not args.quick else '-')
            print(f'| {removed} | {depth} | {len(keep)} | {flops[removed] / 1e9:.2f} | '
                  f'{median[removed]:.4f} | {args.batch_size / median[removed]:.2f} | '
                  f'{speedup:.3f}x | {ideal:.3f}x | {speedup / ideal:.3f} | {paper_speedup} |')
        del base, variants, forwards
        if device.type == 'cuda':
            torch.cuda.empty_cache()


if __name__ == '__main__':
    main()
