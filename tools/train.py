"""Train a model from any mmsls config (mmpretrain, mmdet or mmseg scope) with MMEngine's Runner."""
import argparse

import mmsls  # noqa: F401  (registers mmsls and allow-lists MMEngine's checkpoint types)
from mmsls.runner import (add_runner_arguments, disable_validation, enable_auto_scale_lr,
                          load_run_config, parse_runner_arguments, resolve_resume, run_stage,
                          with_strict_loading)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir if no path '
        '(if there is none yet, the run starts from the beginning with the config\'s load_from)')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the total batch size over the config\'s '
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not validate during training')
    add_runner_arguments(parser)
    return parse_runner_arguments(parser)


def main():
    args = parse_args()
    cfg = load_run_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        cfg = enable_auto_scale_lr(cfg)
    if args.no_validate:
        cfg = disable_validation(cfg)
    cfg = resolve_resume(cfg, args.resume)
    if cfg.resume:  # the checkpoint of this very model: a mismatch is an error, not a partial load
        cfg = with_strict_loading(cfg)
    run_stage(cfg, 'train')


if __name__ == '__main__':
    main()
