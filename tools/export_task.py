"""Write what one task needs on top of the shared frozen backbone.

    python tools/export_task.py CONFIG CHECKPOINT OUT [--backbone-checkpoint PATH] [--cfg-options ...]
                                [--force]

OUT holds the depth record, the weights the backbone checkpoint does not provide (adapters of the kept
layers, neck, heads, tuned backbone weights), and the sha256 of the backbone checkpoint it expects.
``mmsls.apis.load_task(cfg, OUT)`` rebuilds the pruned model from the config, that checkpoint and OUT.
"""
import argparse

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from mmsls.apis import export_task
from mmsls.fileio import check_not_an_input
from mmsls.reporting import INIT_INFO_MESSAGE, summarised


def parse_args():
    parser = argparse.ArgumentParser(description='Export the task file of a trained (pruned) model')
    parser.add_argument('config', help='the config the checkpoint was trained with (unpruned)')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('out', help='the task file to write (.pth)')
    parser.add_argument('--backbone-checkpoint', help='the shared pre-trained backbone checkpoint '
                        '(default: the one the config initialises the backbone from; needed if '
                        'the config names none)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as in tools/train.py')
    parser.add_argument('--force', action='store_true',
                        help='let OUT replace one of the inputs (config, checkpoint, backbone)')
    return parser.parse_args()


def main():
    args = parse_args()
    check_not_an_input(args.out, [args.config], args.force)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # MMEngine logs every parameter's initialisation (about a thousand lines) when no log file
    # takes them: one summary line instead.
    with summarised(MMLogger.get_current_instance(), INIT_INFO_MESSAGE,
                    'initialised {count} parameter tensors (backbone from its checkpoint)'):
        counts = export_task(cfg, args.checkpoint, args.out, args.backbone_checkpoint,
                             force=args.force)
    print(f'wrote {args.out}')
    print(f'stored parameters per task: {counts["stored"]:,} '
          f'({100 * counts["stored"] / counts["model"]:.2f}% of the pruned model\'s {counts["model"]:,}; '
          f'the unpruned model has {counts["unpruned"]:,}), plus {counts["stored_buffer_values"]:,} '
          'buffer values')


if __name__ == '__main__':
    main()
