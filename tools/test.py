"""Evaluate a checkpoint with any mmsls config (mmpretrain, mmdet or mmseg scope).

A checkpoint of a pruned model (SLS, UPDP) evaluates with the original config: the structure recorded in
the checkpoint is re-applied before its weights load.
"""
import argparse

from mmengine.fileio import dump

import mmsls  # noqa: F401  (registers mmsls and allow-lists MMEngine's checkpoint types)
from mmsls.runner import (add_runner_arguments, load_run_config,
                          parse_runner_arguments, run_stage)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='also write the metrics to this json/yaml/pickle file')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (the config must define tta_model/tta_pipeline)')
    add_runner_arguments(parser)
    return parse_runner_arguments(parser)


def main():
    args = parse_args()
    cfg = load_run_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    cfg.load_from, cfg.resume = args.checkpoint, False
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError(f'--tta needs `tta_model` and `tta_pipeline` in {args.config}; '
                             'inherit them from the official config or drop --tta')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    metrics = run_stage(cfg, 'test')
    if args.out:
        dump(metrics, args.out)


if __name__ == '__main__':
    main()
