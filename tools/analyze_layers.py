"""The SLS layer analysis of a trained checkpoint alone: scores per layer, kept depths and plots.

Example::

    python tools/analyze_layers.py configs/adapters/vit-b16_repadapter_in1k.py \
        work_dirs/vit-b16_repadapter_in1k/epoch_100.pth --alpha 0.3 0.1 0.5 --tsne

The sample comes from the config's training set, loaded unaugmented (its test pipeline) by default.
A checkpoint of a pruned model analyses with its original config: the structure recorded in the
checkpoint is re-applied before the weights load.
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import DictAction
from mmengine.registry import DATASETS

from mmsls.analysis import analysis_pipeline, analyze_layers, format_score_table, write_analysis
from mmsls.apis import init_model
from mmsls.depth import prunable_units
from mmsls.runner import default_work_dir


def parse_args():
    parser = argparse.ArgumentParser(description='SLS layer analysis of a trained checkpoint')
    parser.add_argument('config', help='config file the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint file (a Runner checkpoint or a state dict)')
    parser.add_argument('--alpha', type=float, nargs='+', default=[0.3, 0.1, 0.5],
                        help='threshold fractions to report; the first is the main one (json '
                        'top level, shaded in the plot)')
    parser.add_argument('--num-samples', type=int, default=1000,
                        help='sample size N: images, boxes (detection) or tokens (segmentation)')
    parser.add_argument('--backend', default='sklearn',
                        choices=['sklearn', 'fast', 'torch', 'auto'],
                        help='implementation of the t-SNE silhouette criterion; torch and auto '
                        'run on --device, auto is torch on CUDA and sklearn elsewhere')
    parser.add_argument('--seed', type=int, default=0, help='seed of the sample and of t-SNE')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per forward pass (default: the training batch size)')
    parser.add_argument('--pipeline', choices=['train', 'test'], default='test',
                        help="load the training images unaugmented with the config's test "
                        'pipeline, annotations loaded first (default, as the SLS authors), or '
                        'with its train pipeline (seeded augmentations)')
    parser.add_argument('--tsne', action='store_true', help='also plot the per-layer t-SNE grid')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='device of the whole analysis: model, feature capture and (torch, '
                        'auto) criterion')
    parser.add_argument('--work-dir', help='where to write the report (default: '
                        'work_dirs/<config name>/sls_analysis)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    return parser.parse_args()


def main():
    args = parse_args()
    # Builds in the config's scope, which the dataset below is built in too.
    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    cfg = model.cfg
    work_dir = args.work_dir or osp.join(default_work_dir(args.config), 'sls_analysis')
    os.makedirs(work_dir, exist_ok=True)

    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    pipeline = analysis_pipeline(cfg, args.pipeline)
    analysis = analyze_layers(
        model, dataset, alpha=args.alpha[0], num_samples=args.num_samples, backend=args.backend,
        seed=args.seed, return_embeddings=args.tsne,
        batch_size=args.batch_size or cfg.train_dataloader.get('batch_size', 8), pipeline=pipeline)

    required = [unit.required for unit in prunable_units(model)]
    print(format_score_table(analysis, args.alpha, required=required))
    print(f'{len(analysis.labels)} {analysis.task} samples from {analysis.num_images} images; '
          f'capture {analysis.capture_seconds:.1f} s, scoring {analysis.scoring_seconds:.1f} s')
    paths = write_analysis(work_dir, analysis, alphas=args.alpha[1:],
                           extra=dict(config=args.config, checkpoint=args.checkpoint),
                           required=required)
    print('wrote ' + ', '.join(paths.values()))


if __name__ == '__main__':
    main()
