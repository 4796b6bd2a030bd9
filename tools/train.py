"""Train a model from any mmsls config (mmpretrain, mmdet or mmseg scope) with MMEngine's Runner."""
import argparse

import mmsls  # noqa: F401  (registers mmsls and allow-lists MMEngine's checkpoint types)
from mmsls.runner import (add_runner_arguments, load_run_config,
                          parse_runner_arguments, run_stage)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir if no path')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision')
    add_runner_arguments(parser)
    return parse_runner_arguments(parser)


def main():
    args = parse_args()
    cfg = load_run_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    run_stage(cfg, 'train')


if __name__ == '__main__':
    main()
