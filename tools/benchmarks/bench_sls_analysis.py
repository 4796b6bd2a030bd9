"""End-to-end cost of the SLS analysis of ViT-B/16: feature capture + criterion, seconds per stage.

    python tools/benchmarks/bench_sls_analysis.py --device cuda [--backend auto] [--repeats 3]
    python tools/benchmarks/bench_sls_analysis.py --quick --device cpu

Writes a generated classification set (``mmsls.datasets.write_tiny_classification``: 10 classes x
100 images of 224 px, so N = 1000 images), builds ViT-B/16 with RepAdapter
(``configs/adapters/vit-b16_repadapter_in1k.py``, random weights) on ``--device``, and runs what
``analyze_layers`` runs, stage by stage: ``capture`` (``capture_layer_features``: load, decode,
preprocess, one backbone pass per batch with hooks on the 12 layers, on the model's device),
then the criterion (``select_depth`` with ``--backend``; ``auto`` = torch on CUDA, the sklearn
reference elsewhere) on the model's device; the torch backend reports its own stages (features,
affinities, pca_init, optimise, silhouette). Medians over ``--repeats`` runs. ``--quick``: a
4-layer, 64-dim ViT, 4 classes x 10 images of 32 px, 300 t-SNE iterations.
"""
import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS, init_default_scope

import mmsls  # noqa: F401  (registers mmsls's modules)
from mmsls.analysis import capture_layer_features
from mmsls.benchmark import describe_device, parse_device, synchronize
from mmsls.criteria import TSNESettings, resolve_backend, select_depth
from mmsls.datasets import write_tiny_classification

REPO = Path(__file__).resolve().parents[2]
VIT_B16 = 'configs/adapters/vit-b16_repadapter_in1k.py'
TINY = 'configs/_tiny_/vit_cls.py'
ADAPTER = dict(type='RepAdapter', hidden_dims=8, groups=2, dropout=0.1, scale=1.0)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda when present)')
    parser.add_argument('--backend', default='auto', choices=['auto', 'torch', 'sklearn', 'fast'])
    parser.add_argument('--batch-size', type=int, default=64, help='images per forward pass')
    parser.add_argument('--repeats', type=int, default=3, help='runs of the whole analysis')
    parser.add_argument('--threads', type=int, help='CPU threads of torch (default: torch\'s)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny model and images: checks that the script runs, in seconds')
    return parser.parse_args()


def build(root: Path, quick: bool, device: torch.device):
    """The ViT with RepAdapter on ``device`` and the generated training set."""
    num_classes, per_class, size = (4, 10, 32) if quick else (10, 100, 224)
    write_tiny_classification(root, num_classes=num_classes, train_per_class=per_class,
                              test_per_class=1, size=size)
    tiny = Config.fromfile(REPO / TINY)
    cfg = tiny if quick else Config.fromfile(REPO / VIT_B16)
    init_default_scope('mmpretrain')
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.data_preprocessor = cfg.data_preprocessor
    if quick:
        model_cfg.backbone = dict(type='mmsls.AdaptedBackbone', backbone=model_cfg.backbone,
                                  adapter=ADAPTER)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).to(device)
    dataset_cfg = copy.deepcopy(tiny.train_dataloader.dataset)
    dataset_cfg.update(data_root=str(root), pipeline=tiny.test_pipeline,
                       metainfo=dict(classes=[f'class_{i}' for i in range(num_classes)]))
    return model, DATASETS.build(dataset_cfg)


def run_analysis(model, dataset, args, device):
    """Seconds per stage of one analysis, and its kept depth."""
    stages = {}
    synchronize(device)
    start = time.perf_counter()
    captured = capture_layer_features(model, dataset, num_samples=len(dataset),
                                      batch_size=args.batch_size, progress=False)
    synchronize(device)
    stages['capture'] = time.perf_counter() - start
    backend = resolve_backend('tsne_silhouette', device) if args.backend == 'auto' else args.backend
    options = dict(device=device) if backend == 'torch' else {}
    profile = {}
    if backend == 'torch':
        options['profile'] = profile
    if args.quick:
        options['tsne'] = TSNESettings(max_iter=300)
    start = time.perf_counter()
    selection = select_depth(captured.features, captured.labels, backend=backend, **options)
    criterion = time.perf_counter() - start
    for stage, seconds in profile.items():
        stages[f'criterion: {stage}'] = seconds
    stages['criterion (total)'] = criterion
    stages['total'] = stages['capture'] + criterion
    return stages, selection, len(captured.labels)


def main():
    args = parse_args()
    device = parse_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model, dataset = build(Path(tmp) / 'cls', args.quick, device)
        runs = [run_analysis(model, dataset, args, device) for _ in range(args.repeats)]
    selection, num_samples = runs[-1][1], runs[-1][2]
    print(f'SLS analysis of {"a 4 x 64 ViT (quick)" if args.quick else "ViT-B/16 + RepAdapter"}'
          f' on {num_samples} images, batch {args.batch_size}, {describe_device(device)}, '
          f'backend {selection.backend} ({args.backend} asked), median of {args.repeats} runs')
    print('| stage | seconds | share of total |')
    print('|---|---|---|')
    total = statistics.median(run[0]['total'] for run in runs)
    for stage in runs[0][0]:
        seconds = statistics.median(run[0][stage] for run in runs)
        print(f'| {stage} | {seconds:.3f} | {seconds / total:.0%} |')
    print(f'kept depths per run: {[run[1].kept_depth for run in runs]}; scores of the last: '
          + ' '.join(f'{score:.3f}' for score in selection.scores))


if __name__ == '__main__':
    main()
