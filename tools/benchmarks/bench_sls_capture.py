"""Cost of the SLS feature capture against plain inference over the same images.

For each task (classification ViT, segmentation SETR ViT, detection Swin) the capture
(``capture_layer_features``: load, preprocess, one backbone pass with hooks on every unit, pooling
of the chosen samples) and a plain loop (load, preprocess, one backbone pass) run over every image
of a generated training set, interleaved in each round; medians of wall and process CPU time per
variant.
A per-layer re-run (as the public SLS code does) would cost L plain passes by construction.
``--device cuda`` runs both on the GPU (the capture keeps the features there until the end; the
times then include waiting for the device). ``--quick``: the tiny configs as they are, 8 images,
1 round.

    .venv/bin/python tools/benchmarks/bench_sls_capture.py --rounds 5
"""
import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, init_default_scope

import mmsls  # noqa: F401
from mmsls.analysis import capture_layer_features
from mmsls.benchmark import describe_device, parse_device, synchronize
from mmsls.datasets import write_tiny_ade20k, write_tiny_classification, write_tiny_coco
from mmsls.depth import find_backbone, prunable_units

REPO = Path(__file__).resolve().parents[2]
NUM_IMAGES = 48
QUICK_IMAGES = 8


def classification_case(root: Path, quick: bool):
    num_images = QUICK_IMAGES if quick else NUM_IMAGES
    write_tiny_classification(root / 'cls', num_classes=4, train_per_class=num_images // 4,
                              size=32 if quick else 64)
    cfg = Config.fromfile(REPO / 'configs/_tiny_/vit_cls.py')
    if not quick:
        cfg.model.backbone.update(arch=dict(embed_dims=192, num_layers=12, num_heads=3,
                                            feedforward_channels=768), img_size=64)
        cfg.model.head.in_channels = 192
    cfg.model.data_preprocessor = cfg.data_preprocessor
    cfg.train_dataloader.dataset.update(data_root=str(root / 'cls'),
                                        metainfo=dict(classes=[f'class_{i}' for i in range(4)]))
    return 'classification: ViT 12 x 192, 64 px', cfg


def segmentation_case(root: Path, quick: bool):
    size = (64, 64) if quick else (128, 128)
    write_tiny_ade20k(root / 'ade', num_classes=4, num_train=QUICK_IMAGES if quick else NUM_IMAGES,
                      size=size)
    cfg = Config.fromfile(REPO / 'configs/_tiny_/setr_vit.py')
    if not quick:
        cfg.model.backbone.update(img_size=(128, 128), num_layers=12, embed_dims=192,
                                  num_heads=3, out_indices=(3, 5, 8, 11))
        cfg.model.data_preprocessor.size = (128, 128)
        for head in [cfg.model.decode_head, *cfg.model.auxiliary_head]:
            head.in_channels = 192
    cfg.train_dataloader.dataset.data_root = str(root / 'ade')
    return 'segmentation: SETR ViT 12 x 192, 128 px, tokens', cfg


def detection_case(root: Path, quick: bool):
    write_tiny_coco(root / 'coco', num_classes=3, num_train=QUICK_IMAGES if quick else NUM_IMAGES,
                    size=(128, 128))
    cfg = Config.fromfile(REPO / 'configs/_tiny_/swin_retinanet.py')
    if not quick:
        cfg.model.backbone.update(depths=(2, 2, 6, 2), embed_dims=48, num_heads=(3, 6, 12, 24),
                                  window_size=7)
        cfg.model.neck.in_channels = [96, 192, 384]
        cfg.train_pipeline[2].scale = (128, 128)
    cfg.train_dataloader.dataset.update(data_root=str(root / 'coco') + '/')
    cfg.train_dataloader.dataset.pipeline = cfg.train_pipeline
    return 'detection: Swin (2, 2, 6, 2) x 48, 128 px, boxes', cfg


def build(cfg: Config, device: torch.device):
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    model.eval()
    return model.to(device), DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))


def plain_inference(model, dataset, batch_size: int) -> None:
    """Load, preprocess and run the backbone over every image, nothing captured."""
    _, backbone = find_backbone(model)
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            stop = min(start + batch_size, len(dataset))
            batch = [dataset[index] for index in range(start, stop)]
            data = model.data_preprocessor(pseudo_collate(batch), training=False)
            backbone(data['inputs'])


def capture(model, dataset, batch_size: int) -> None:
    # N larger than any class can fill: every image is visited, as in the plain loop.
    captured = capture_layer_features(model, dataset, num_samples=100000, batch_size=batch_size,
                                      max_images=len(dataset), progress=False)
    assert captured.num_images == len(dataset)


def timed(device, function, *args):
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args)
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda when present)')
    parser.add_argument('--quick', action='store_true',
                        help='tiny configs as they are, 8 images: checks that the script runs')
    args = parser.parse_args()
    device = parse_device(args.device)
    if args.quick:
        args.rounds = 1
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in (classification_case, segmentation_case, detection_case):
            name, cfg = case(Path(tmp), args.quick)
            if args.quick:
                name = f'{name.split(":")[0]}: tiny config (quick)'
            model, dataset = build(cfg, device)
            variants = dict(plain=plain_inference, capture=capture)
            times = {variant: [] for variant in variants}
            for round_index in range(args.rounds):
                order = list(variants) if round_index % 2 == 0 else list(variants)[::-1]
                for variant in order:
                    times[variant].append(timed(device, variants[variant], model, dataset,
                                                args.batch_size))
            medians = {variant: (statistics.median(t[0] for t in runs),
                                 statistics.median(t[1] for t in runs))
                       for variant, runs in times.items()}
            rows.append((name, len(prunable_units(model)), len(dataset), medians))
    print(f'{args.rounds} rounds, batch {args.batch_size}, {describe_device(device)}; medians')
    print('| case | units | images | plain wall s | capture wall s | wall ratio | plain CPU s | '
          'capture CPU s | CPU ratio |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name, units, images, medians in rows:
        (plain_wall, plain_cpu), (capture_wall, capture_cpu) = medians['plain'], medians['capture']
        print(f'| {name} | {units} | {images} | {plain_wall:.2f} | {capture_wall:.2f} | '
              f'{capture_wall / plain_wall:.3f} | {plain_cpu:.2f} | {capture_cpu:.2f} | '
              f'{capture_cpu / plain_cpu:.3f} |')


if __name__ == '__main__':
    main()
