"""Tiny datasets in the real OpenMMLab formats, for tests and examples.

Each writer draws small images with learnable structure (coloured shapes on a textured background, one
shape/colour per class) and writes them in the format the real dataset class reads:

- :func:`write_tiny_classification`: an image folder + list files for mmpretrain ``CustomDataset``;
- :func:`write_tiny_coco`: images + ``instances_*.json`` for mmdet ``CocoDataset`` / ``CocoMetric``;
- :func:`write_tiny_ade20k`: jpg images + png label maps for mmseg ``ADE20KDataset`` / ``IoUMetric``.

Everything is seeded: the same arguments write the same files.
"""
import json
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

# One colour and one shape per class; a class is recognisable by either.
_PALETTE = [(220, 40, 40), (40, 180, 60), (50, 80, 220), (230, 200, 40), (200, 60, 200),
            (40, 200, 200), (240, 140, 30), (120, 70, 30), (150, 150, 150), (20, 20, 20)]
_SHAPES = ['ellipse', 'rectangle', 'triangle', 'diamond']
MAX_CLASSES = len(_PALETTE)


def _check_num_classes(num_classes: int) -> None:
    if not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f'num_classes must be in [2, {MAX_CLASSES}], got {num_classes}')


def _background(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    """A smooth random gradient plus mild noise, so that the shapes are not on a constant canvas."""
    base = rng.uniform(60, 140, size=3)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    tilt = rng.uniform(-40, 40, size=(2, 3))
    img = base + xx[..., None] * tilt[0] + yy[..., None] * tilt[1]
    img += rng.normal(0, 6, size=img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _draw_shape(draw: ImageDraw.ImageDraw, label: int, box: Tuple[int, int, int, int],
                fill) -> None:
    x0, y0, x1, y1 = box
    shape = _SHAPES[label % len(_SHAPES)]
    if shape == 'ellipse':
        draw.ellipse(box, fill=fill)
    elif shape == 'rectangle':
        draw.rectangle(box, fill=fill)
    elif shape == 'triangle':
        draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=fill)
    else:
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)


def _class_colour(rng: np.random.Generator, label: int) -> Tuple[int, int, int]:
    jitter = rng.integers(-20, 21, size=3)
    return tuple(int(c) for c in np.clip(np.array(_PALETTE[label]) + jitter, 0, 255))


def _random_box(rng: np.random.Generator, height: int, width: int, min_frac: float,
                max_frac: float) -> Tuple[int, int, int, int]:
    bw = int(rng.uniform(min_frac, max_frac) * width)
    bh = int(rng.uniform(min_frac, max_frac) * height)
    x0 = int(rng.integers(0, width - bw))
    y0 = int(rng.integers(0, height - bh))
    return x0, y0, x0 + bw, y0 + bh


def write_tiny_classification(root, num_classes: int = 3, train_per_class: int = 8,
                              test_per_class: int = 4, size: int = 32,
                              seed: int = 0) -> Dict[str, object]:
    """Write an image-folder classification set with list files.

    Layout (what mmpretrain ``CustomDataset`` reads with ``ann_file`` + ``data_prefix``)::

        root/train/<class>/<n>.png   root/meta/train.txt  ("<class>/<n>.png <label>" per line)
        root/test/<class>/<n>.png    root/meta/test.txt

    Returns:
        dict: ``data_root``, ``classes`` and the number of images per split.
    """
    _check_num_classes(num_classes)
    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = tuple(f'class_{i}' for i in range(num_classes))
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, per_class in (('train', train_per_class), ('test', test_per_class)):
        lines = []
        for label, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for n in range(per_class):
                img = _background(rng, size, size)
                box = _random_box(rng, size, size, 0.45, 0.8)
                _draw_shape(ImageDraw.Draw(img), label, box, _class_colour(rng, label))
                rel = f'{name}/{n}.png'
                img.save(root / split / rel)
                lines.append(f'{rel} {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
        counts[split] = len(lines)
    return dict(data_root=str(root), classes=classes, **counts)


def write_tiny_coco(root, num_classes: int = 3, num_train: int = 8, num_val: int = 4,
                    size: Tuple[int, int] = (64, 64), max_objects: int = 3,
                    seed: int = 0) -> Dict[str, object]:
    """Write a COCO-format detection set.

    Layout (what mmdet ``CocoDataset`` and ``CocoMetric`` read)::

        root/train/<n>.jpg   root/annotations/instances_train.json
        root/val/<n>.jpg     root/annotations/instances_val.json

    Every image has 1..``max_objects`` non-overlapping-ish shapes; boxes are ``[x, y, w, h]``.

    Returns:
        dict: ``data_root``, ``classes`` and the number of images per split.
    """
    _check_num_classes(num_classes)
    root = Path(root)
    rng = np.random.default_rng(seed)
    height, width = size
    classes = tuple(f'object_{i}' for i in range(num_classes))
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(classes)]
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    ann_id = 1
    counts = {}
    for split, num_images in (('train', num_train), ('val', num_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for n in range(num_images):
            img = _background(rng, height, width)
            draw = ImageDraw.Draw(img)
            for _ in range(int(rng.integers(1, max_objects + 1))):
                label = int(rng.integers(0, num_classes))
                x0, y0, x1, y1 = _random_box(rng, height, width, 0.25, 0.5)
                _draw_shape(draw, label, (x0, y0, x1, y1), _class_colour(rng, label))
                w, h = x1 - x0 + 1, y1 - y0 + 1
                annotations.append(dict(id=ann_id, image_id=n + 1, category_id=label + 1,
                                        bbox=[x0, y0, w, h], area=w * h, iscrowd=0,
                                        segmentation=[[x0, y0, x1, y0, x1, y1, x0, y1]]))
                ann_id += 1
            file_name = f'{n}.jpg'
            img.save(root / split / file_name, quality=95)
            images.append(dict(id=n + 1, file_name=file_name, height=height, width=width))
        instances = dict(images=images, annotations=annotations, categories=categories)
        (root / 'annotations' / f'instances_{split}.json').write_text(json.dumps(instances))
        counts[split] = num_images
    return dict(data_root=str(root), classes=classes, **counts)


def ade20k_classes(num_classes: int) -> Sequence[str]:
    """The first ``num_classes`` ADE20K class names (``ADE20KDataset`` maps them onto 0..K-1)."""
    from mmseg.datasets import ADE20KDataset
    return ADE20KDataset.METAINFO['classes'][:num_classes]


def write_tiny_ade20k(root, num_classes: int = 4, num_train: int = 8, num_val: int = 4,
                      size: Tuple[int, int] = (64, 64), max_objects: int = 3,
                      seed: int = 0) -> Dict[str, object]:
    """Write an ADE20K-format segmentation set.

    Layout (what mmseg ``ADE20KDataset`` reads; label maps use ADE20K's convention: 0 = "other",
    ignored through ``reduce_zero_label``, and class ``c`` is stored as ``c + 1``)::

        root/images/training/<n>.jpg     root/annotations/training/<n>.png
        root/images/validation/<n>.jpg   root/annotations/validation/<n>.png

    Class 0 is the background region; classes 1..K-1 are shapes. A thin unlabelled (0) border around
    each shape exercises the ignore label.

    Returns:
        dict: ``data_root``, ``classes`` (the first K ADE20K names) and images per split.
    """
    _check_num_classes(num_classes)
    root = Path(root)
    rng = np.random.default_rng(seed)
    height, width = size
    counts = {}
    for split, num_images in (('training', num_train), ('validation', num_val)):
        (root / 'images' / split).mkdir(parents=True, exist_ok=True)
        (root / 'annotations' / split).mkdir(parents=True, exist_ok=True)
        for n in range(num_images):
            img = _background(rng, height, width)
            label_map = Image.new('L', (width, height), color=1)  # background: class 0 stored as 1
            draw, draw_label = ImageDraw.Draw(img), ImageDraw.Draw(label_map)
            for _ in range(int(rng.integers(1, max_objects + 1))):
                label = int(rng.integers(1, num_classes))
                box = _random_box(rng, height, width, 0.25, 0.5)
                _draw_shape(draw, label, box, _class_colour(rng, label))
                grown = (box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1)
                _draw_shape(draw_label, label, grown, 0)
                _draw_shape(draw_label, label, box, label + 1)
            img.save(root / 'images' / split / f'{n}.jpg', quality=95)
            label_map.save(root / 'annotations' / split / f'{n}.png')
        counts[split] = num_images
    return dict(data_root=str(root), classes=tuple(ade20k_classes(num_classes)), **counts)
