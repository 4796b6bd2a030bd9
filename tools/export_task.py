"""Write what one task needs on top of the shared frozen backbone.

    python tools/export_task.py CONFIG CHECKPOINT OUT [--backbone-checkpoint PATH] [--cfg-options ...]

OUT holds the depth record, the weights the backbone checkpoint does not provide (adapters of the kept
layers, neck, heads, tuned backbone weights), and the sha256 of the backbone checkpoint it expects.
``mmsls.depth.load_task(cfg, OUT)`` rebuilds the pruned model from the config, that checkpoint and OUT.
"""
import argparse

from mmengine.config import Config, DictAction

from mmsls.depth import export_task


def parse_args():
    parser = argparse.ArgumentParser(description='Export the task file of a trained (pruned) model')
    parser.add_argument('config', help='the config the checkpoint was trained with (unpruned)')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('out', help='the task file to write (.pth)')
    parser.add_argument('--backbone-checkpoint', help='the shared pre-trained backbone checkpoint '
                        '(default: the one the config initialises the backbone from)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as in tools/train.py')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    counts = export_task(cfg, args.checkpoint, args.out, args.backbone_checkpoint)
    print(f'wrote {args.out}')
    print(f'stored parameters per task: {counts["stored"]:,} '
          f'({100 * counts["stored"] / counts["model"]:.2f}% of the pruned model\'s {counts["model"]:,}; '
          f'the unpruned model has {counts["unpruned"]:,}), plus {counts["stored_buffer_values"]:,} '
          'buffer values')


if __name__ == '__main__':
    main()
