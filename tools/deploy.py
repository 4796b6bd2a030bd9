"""Write a trained (pruned, adapted) model as a plain config and checkpoint of its own library.

    python tools/deploy.py CONFIG CHECKPOINT OUT_DIR [--cfg-options ...] [--force]

CONFIG is the config the checkpoint was trained with (the unpruned one; the checkpoint's depth
record prunes it), CHECKPOINT the trained checkpoint. Writes ``OUT_DIR/config.py`` and
``OUT_DIR/model.pth``: RepAdapters folded into the backbone, the pruned structure in the backbone's
own terms (ViT ``num_layers``/``arch`` and remapped ``out_indices``; Swin per-stage ``depths``;
ConvNeXt ``arch`` depths) with the kept blocks renumbered, and no mmsls type left. They load with
``mmpretrain.apis.init_model``, ``mmdet.apis.init_detector``, ``mmseg.apis.init_model`` and each
library's own ``tools/test.py`` in a process without mmsls.

Where a plain config cannot describe the model (Convpass adapters; a Swin whose kept blocks would
change window-shift parity; a pruned ResNet or MobileNetV2) the tool says why and writes the mmsls
config instead: it loads in the same tools where mmsls is installed. Prints the parameters and
backbone FLOPs before (the config's model) and after, and the largest output difference between
the written model and the mmsls model on a random input.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction
from mmengine.logging import MMLogger

from mmsls.apis.deploy import deploy_model, save_deployment
from mmsls.fileio import check_not_an_input
from mmsls.reporting import INIT_INFO_MESSAGE, format_cost_change, summarised


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a trained model as a plain config and checkpoint of its library')
    parser.add_argument('config', help='the config the checkpoint was trained with (unpruned)')
    parser.add_argument('checkpoint', help='the trained checkpoint')
    parser.add_argument('out_dir', help='directory for config.py and model.pth')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as in tools/train.py')
    parser.add_argument('--force', action='store_true',
                        help='let the outputs replace the config or the checkpoint')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for name in ('config.py', 'model.pth'):
        check_not_an_input(osp.join(args.out_dir, name), [args.config, args.checkpoint], args.force)
    with summarised(MMLogger.get_current_instance(), INIT_INFO_MESSAGE,
                    'initialised {count} parameter tensors'):
        result = deploy_model(args.config, args.checkpoint, args.cfg_options)
    config_out, weights_out = save_deployment(result, args.out_dir)

    print(f'merged {result.merged_adapters} RepAdapters; '
          + format_cost_change(result.cost_before, result.cost_after))
    print(f'max abs difference to the mmsls model on a random input: {result.max_abs_diff:.3g}')
    if result.plain:
        print(f'wrote {config_out} and {weights_out}: a plain config and checkpoint (no mmsls type)')
    else:
        print(f'wrote {config_out} and {weights_out}: the mmsls config, because')
        for note in result.notes:
            print(f'  - {note}')
        print('  they load in the libraries\' own tools where mmsls is installed')


if __name__ == '__main__':
    main()
