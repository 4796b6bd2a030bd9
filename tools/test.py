"""Evaluate a checkpoint with any mmsls config (mmpretrain, mmdet or mmseg scope).

A checkpoint of a pruned model (SLS, UPDP) evaluates with the original config: the structure recorded in
the checkpoint is re-applied before its weights load.
"""
import argparse

from mmengine.fileio import dump

import mmsls  # noqa: F401  (registers mmsls and allow-lists MMEngine's checkpoint types)
from mmsls.fileio import atomic_write, check_not_an_input
from mmsls.runner import (add_runner_arguments, enable_test_visualization, load_run_config,
                          parse_runner_arguments, run_stage, with_dumped_predictions,
                          with_strict_loading)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the predictions to this pickle file (.pkl), for '
                        'offline evaluation, as mmdet\'s and mmseg\'s test.py')
    parser.add_argument('--out-metrics', help='also write the metrics to this json/yaml/pickle file')
    parser.add_argument('--show-dir', help='draw the predictions into this directory (with the '
                        'config\'s visualization hook, as the libraries\' test.py)')
    parser.add_argument('--show', action='store_true', help='show the predictions in a window')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each shown prediction stays (--show)')
    parser.add_argument('--non-strict', action='store_true',
                        help='load the checkpoint even if its keys do not match the model (only the '
                        'matching weights load; the others are named in a warning)')
    parser.add_argument('--force', action='store_true',
                        help='let --out/--out-metrics replace the config or the checkpoint')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (the config must define tta_model/tta_pipeline)')
    add_runner_arguments(parser)
    return parse_runner_arguments(parser)


def main():
    args = parse_args()
    cfg = load_run_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from, cfg.resume = args.checkpoint, False
    for out in (args.out, args.out_metrics):
        if out:
            check_not_an_input(out, [args.config, args.checkpoint], args.force)
    if args.out:
        cfg = with_dumped_predictions(cfg, args.out)
    if args.show or args.show_dir:
        cfg = enable_test_visualization(cfg, args.show_dir, args.show, args.wait_time)
    if not args.non_strict:
        cfg = with_strict_loading(cfg)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError(f'--tta needs `tta_model` and `tta_pipeline` in {args.config}; '
                             'inherit them from the official config or drop --tta')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    metrics = run_stage(cfg, 'test')
    if args.out_metrics:
        with atomic_write(args.out_metrics) as path:
            dump(metrics, path)


if __name__ == '__main__':
    main()
