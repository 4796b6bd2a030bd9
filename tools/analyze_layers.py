"""The SLS layer analysis of a trained checkpoint alone: scores per layer, kept depths and plots.

Example::

    python tools/analyze_layers.py configs/adapters/vit-b16_repadapter_in1k.py \
        work_dirs/vit-b16_repadapter_in1k/epoch_100.pth --alpha 0.3 0.1 0.5 --tsne

The sample comes from the config's training set. A checkpoint of a pruned model analyses with its
original config: the structure recorded in the checkpoint is re-applied before the weights load.
"""
import argparse
import copy
import os
import os.path as osp
import re

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import DATASETS, MODELS, init_default_scope

import mmsls  # noqa: F401  (registers mmsls and allow-lists MMEngine's checkpoint types)
from mmsls.analysis import analyze_layers, format_score_table, write_analysis
from mmsls.analysis.tasks import detect_task
from mmsls.depth import DEPTH_RECORD_KEY, apply_depth_structure, prunable_units
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
    parser.add_argument('--backend', default='sklearn', choices=['sklearn', 'fast', 'torch'],
                        help='implementation of the t-SNE silhouette criterion')
    parser.add_argument('--seed', type=int, default=0, help='seed of the sample and of t-SNE')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per forward pass (default: the training batch size)')
    parser.add_argument('--pipeline', choices=['train', 'test'], default='train',
                        help="load the training images with the config's train pipeline (seeded "
                        'augmentations) or its test pipeline (classification, segmentation)')
    parser.add_argument('--tsne', action='store_true', help='also plot the per-layer t-SNE grid')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='device of the model')
    parser.add_argument('--work-dir', help='where to write the report (default: '
                        'work_dirs/<config name>/sls_analysis)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    return parser.parse_args()


def load_trained_model(cfg: Config, checkpoint: str) -> torch.nn.Module:
    """The model of ``cfg`` with the checkpoint's weights, pruned to its recorded structure."""
    model_cfg = copy.deepcopy(cfg.model)
    # As the Runner does: a top-level data_preprocessor (mmpretrain configs) joins the model.
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    loaded = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state_dict = loaded.get('state_dict', loaded)
    state_dict = {re.sub(r'^module\.', '', key): value for key, value in state_dict.items()}
    record = (loaded.get('meta') or {}).get(DEPTH_RECORD_KEY)
    if record is not None:
        apply_depth_structure(model, record, state_dict)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        wrong = (f'missing {missing[:3]}' if missing else '') + \
            (f' unexpected {unexpected[:3]}' if unexpected else '')
        raise ValueError(f'{checkpoint} does not fit the model of the config ({wrong.strip()}): '
                         'pass the config the checkpoint was trained with')
    return model


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    work_dir = args.work_dir or osp.join(default_work_dir(args.config), 'sls_analysis')
    os.makedirs(work_dir, exist_ok=True)

    model = load_trained_model(cfg, args.checkpoint).to(args.device)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    pipeline = None
    if args.pipeline == 'test':
        if detect_task(dataset.get_data_info(0)) == 'detection':
            # mmdet test pipelines load boxes after resizing (metrics use the original size), so
            # boxes and image would not line up; training pipelines transform both together.
            raise ValueError('--pipeline test does not fit detection: its boxes stay at the '
                             'original image size while the image is resized. Use --pipeline train')
        pipeline = cfg.test_dataloader.dataset.pipeline
    analysis = analyze_layers(
        model, dataset, alpha=args.alpha[0], num_samples=args.num_samples, backend=args.backend,
        seed=args.seed, return_embeddings=args.tsne,
        batch_size=args.batch_size or cfg.train_dataloader.get('batch_size', 8), pipeline=pipeline)

    required = [unit.required for unit in prunable_units(model)]
    print(format_score_table(analysis, args.alpha, required=required))
    print(f'{len(analysis.labels)} {analysis.task} samples from {analysis.num_images} images; '
          f'capture {analysis.capture_seconds:.1f} s, scoring {analysis.scoring_seconds:.1f} s')
    paths = write_analysis(work_dir, analysis, alphas=args.alpha[1:],
                           extra=dict(config=args.config, checkpoint=args.checkpoint))
    print('wrote ' + ', '.join(paths.values()))


if __name__ == '__main__':
    main()
