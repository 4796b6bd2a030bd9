"""Export a trained (pruned, adapted) model to ONNX, check it with onnxruntime, measure throughput.

    python tools/export_onnx.py CONFIG CHECKPOINT OUT.onnx [--shape H W] [--batch N]
        [--atol 1e-4] [--rtol 1e-4] [--iters 20] [--no-benchmark] [--cfg-options ...] [--force]

The model loads with :func:`mmsls.apis.init_model` (the checkpoint's depth record applied) and its
RepAdapters are folded into the backbone; the graph is ``forward(inputs, mode='tensor')`` on
preprocessed images of a fixed shape (see :mod:`mmsls.apis.onnx_export`). onnxruntime then runs it
on random images and its outputs are compared to torch's: the largest absolute difference is
printed, and the tool fails when it exceeds ``atol + rtol * max|torch output|``.

Unless ``--no-benchmark``, it also exports the config's unpruned model (adapters merged likewise)
and prints the images per second of torch and onnxruntime, pruned and unpruned, with one thread
and with all the cores of the process.
"""
import argparse
import os.path as osp
import sys
import tempfile

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger

from mmsls.adapters import merge_adapters
from mmsls.apis import init_model
from mmsls.apis.deploy import tensor_outputs
from mmsls.apis.onnx_export import (all_threads, compare_outputs, export_onnx, onnx_session,
                                    onnx_throughput, run_onnx, torch_throughput)
from mmsls.depth import find_backbone
from mmsls.fileio import atomic_write, check_not_an_input
from mmsls.reporting import INIT_INFO_MESSAGE, count_parameters, probe_input_hw, summarised


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export a trained model to ONNX and check it')
    parser.add_argument('config', help='the config the checkpoint was trained with (unpruned)')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('out', help='the ONNX file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default: the backbone\'s img_size)')
    parser.add_argument('--batch', type=int, default=1, help='images per input (default 1)')
    parser.add_argument('--atol', type=float, default=1e-4, help='absolute tolerance')
    parser.add_argument('--rtol', type=float, default=1e-4,
                        help='tolerance relative to the largest torch output')
    parser.add_argument('--iters', type=int, default=20, help='timed runs per measurement')
    parser.add_argument('--no-benchmark', action='store_true', help='skip the throughput table')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as in tools/train.py')
    parser.add_argument('--force', action='store_true',
                        help='let OUT replace the config or the checkpoint')
    return parser.parse_args(argv)


def load_merged(config, checkpoint, cfg_options):
    """The model of ``config`` (with ``checkpoint``, pruned by its record) with RepAdapters folded."""
    model = init_model(config, checkpoint, cfg_options=cfg_options)
    merge_adapters(model)  # a Convpass stays (with a warning) and exports as it is
    return model


def main(argv=None):
    args = parse_args(argv)
    check_not_an_input(args.out, [args.config, args.checkpoint], args.force)
    with summarised(MMLogger.get_current_instance(), INIT_INFO_MESSAGE,
                    'initialised {count} parameter tensors'):
        model = load_merged(args.config, args.checkpoint, args.cfg_options)
    shape = args.shape or probe_input_hw(find_backbone(model)[1])
    inputs = torch.randn(args.batch, 3, *shape, generator=torch.Generator().manual_seed(0))

    with atomic_write(args.out) as path:
        export_onnx(model, inputs, path)
    errors = compare_outputs(tensor_outputs(model, inputs), run_onnx(onnx_session(args.out), inputs))
    tolerance = args.atol + args.rtol * errors['max_ref']
    print(f'wrote {args.out}; onnxruntime vs torch on a random {args.batch}x3x{shape[0]}x'
          f'{shape[1]} input: max abs error {errors["max_abs"]:.3g} (largest output '
          f'{errors["max_ref"]:.3g}, tolerance {tolerance:.3g})')
    if not errors['max_abs'] <= tolerance:
        sys.exit(f'the ONNX model does not match torch: max abs error {errors["max_abs"]:.3g} > '
                 f'{tolerance:.3g}')
    if args.no_benchmark:
        return

    with summarised(MMLogger.get_current_instance(), INIT_INFO_MESSAGE,
                    'initialised {count} parameter tensors'):
        unpruned = load_merged(args.config, None, args.cfg_options)
    threads = sorted({1, all_threads()})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        unpruned_path = osp.join(tmp, 'unpruned.onnx')
        export_onnx(unpruned, inputs, unpruned_path)
        for name, net, onnx_path in (('unpruned', unpruned, unpruned_path),
                                     ('pruned', model, args.out)):
            speeds = []
            for count in threads:
                speeds += [torch_throughput(net, inputs, count, args.iters),
                           onnx_throughput(onnx_path, inputs, count, args.iters)]
            rows.append((name, count_parameters(net), speeds))
    header = ' | '.join(f'{engine} {count} thr' for count in threads
                        for engine in ('torch', 'onnxruntime'))
    print(f'\nimages/s, batch {args.batch}, {shape[0]}x{shape[1]}, {args.iters} runs each:')
    print(f'| model | params | {header} |')
    print('|---|---:|' + '---:|' * (2 * len(threads)))
    for name, params, speeds in rows:
        print(f'| {name} | {params / 1e6:.2f}M | ' + ' | '.join(f'{s:.1f}' for s in speeds) + ' |')
    base = rows[0][2]
    print('| pruned / unpruned | | ' + ' | '.join(
        f'{pruned / unpruned:.2f}x' for pruned, unpruned in zip(rows[1][2], base)) + ' |')


if __name__ == '__main__':
    main()
