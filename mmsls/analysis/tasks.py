"""What a labelled sample is in each task, and how it is drawn from a batch.

- classification: an image, labelled by its class (``gt_label``); the images are chosen up front,
  class-balanced, from the dataset's labels.
- detection: a ground-truth box, labelled by its category; its feature at a unit is the mean of the
  unit's tokens inside the box at that unit's resolution.
- segmentation: a token, labelled by the majority ground-truth class of the pixels it covers (tokens
  mostly covering the ignore label are skipped); at most ``tokens_per_class_per_image`` tokens of a
  class per image, so the sample spreads over many images.

For the dense tasks the labels are only known once an image has been loaded, so images are visited
in a seeded random order and every class fills the same quota of samples (:class:`ClassQuota`).
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from .labelling import fit_label_map, grid_stride, majority_token_labels, token_boxes
from .sampling import ClassQuota

TASKS = ('classification', 'detection', 'segmentation')


class Selection(NamedTuple):
    """The samples chosen in one batch.

    Attributes:
        batch_index (torch.Tensor): (R,) the image of each sample.
        labels (torch.Tensor): (R,) the class of each sample.
        boxes (torch.Tensor, optional): (R, 4) the region ``(x1, y1, x2, y2)`` of each sample in
            input pixels, for dense tasks.
    """
    batch_index: torch.Tensor
    labels: torch.Tensor
    boxes: Optional[torch.Tensor] = None


def detect_task(data_info: dict) -> str:
    """The task of a dataset, from the annotation fields of one of its ``get_data_info`` entries."""
    if 'gt_label' in data_info:
        return 'classification'
    if 'instances' in data_info:
        return 'detection'
    if 'seg_map_path' in data_info:
        return 'segmentation'
    raise ValueError(f'cannot tell the task from a data info with keys {sorted(data_info)}: '
                     "expected 'gt_label' (classification), 'instances' (detection) or "
                     "'seg_map_path' (segmentation). Pass task='classification', 'detection' or "
                     "'segmentation'")


class ImageSamples:
    """Classification: one sample per image, every image of the batch (chosen beforehand)."""

    dense = False

    def select(self, data_samples: Sequence, input_hw: Tuple[int, int],
               grid_hw: Tuple[int, int]) -> Selection:
        labels = []
        for sample in data_samples:
            label = _field(sample, 'gt_label', 'classification').reshape(-1)
            if label.numel() != 1:
                raise ValueError(f'SLS needs one class per image, got gt_label {label.tolist()} '
                                 '(multi-label data): the silhouette groups samples by one label')
            labels.append(int(label))
        return Selection(torch.arange(len(data_samples)), torch.tensor(labels))


class BoxSamples:
    """Detection: the ground-truth boxes of each image, up to a per-class quota.

    Args:
        quota (ClassQuota): Samples still wanted per class.
        rng (np.random.Generator): Orders the boxes of an image.
    """

    dense = True

    def __init__(self, quota: ClassQuota, rng: np.random.Generator):
        self.quota = quota
        self.rng = rng

    def select(self, data_samples, input_hw, grid_hw):
        batch_index, labels, boxes = [], [], []
        for index, sample in enumerate(data_samples):
            instances = _field(sample, 'gt_instances', 'detection')
            image_boxes = instances.bboxes
            image_boxes = getattr(image_boxes, 'tensor', image_boxes)  # mmdet's box types
            for box in self.rng.permutation(len(instances)):
                label = int(instances.labels[box])
                if self.quota.take(label):
                    batch_index.append(index)
                    labels.append(label)
                    boxes.append(image_boxes[box].float().cpu())
        return _selection(batch_index, labels, boxes)


class TokenSamples:
    """Segmentation: labelled tokens of each image, capped per class and image, up to a quota.

    Args:
        quota (ClassQuota): Samples still wanted per class.
        rng (np.random.Generator): Draws the tokens of an image.
        num_classes (int): Number of classes; other label values count as ignored.
        tokens_per_class_per_image (int): At most this many tokens of one class from one image.
    """

    dense = True

    def __init__(self, quota: ClassQuota, rng: np.random.Generator, num_classes: int,
                 tokens_per_class_per_image: int):
        self.quota = quota
        self.rng = rng
        self.num_classes = num_classes
        self.tokens_per_class_per_image = tokens_per_class_per_image

    def select(self, data_samples, input_hw, grid_hw):
        stride = grid_stride(input_hw, grid_hw)
        batch_index, labels, boxes = [], [], []
        for index, sample in enumerate(data_samples):
            seg_map = _field(sample, 'gt_sem_seg', 'segmentation').data[0]
            seg_map = fit_label_map(seg_map, sample.metainfo['img_shape'][:2])
            token_labels = majority_token_labels(seg_map.cpu(), grid_hw, stride,
                                                 self.num_classes).flatten().numpy()
            present = np.unique(token_labels[token_labels >= 0])
            for label in self.rng.permutation(present):
                tokens = self.rng.permutation(np.flatnonzero(token_labels == label))
                for token in tokens[:self.tokens_per_class_per_image]:
                    if not self.quota.take(int(label)):
                        break
                    batch_index.append(index)
                    labels.append(int(label))
                    row, col = divmod(int(token), grid_hw[1])
                    boxes.append(token_boxes(torch.tensor([row]), torch.tensor([col]), stride)[0])
        return _selection(batch_index, labels, boxes)


def _field(sample, name: str, task: str):
    """``sample.<name>``, or an error saying that the pipeline must load the annotations."""
    if name not in sample:
        raise ValueError(f'the {task} samples have no {name}: the analysis labels samples with '
                         'the ground truth, so its pipeline must load the annotations '
                         '(LoadAnnotations) and pack them')
    return sample.get(name)


def _selection(batch_index: List[int], labels: List[int], boxes: List[torch.Tensor]) -> Selection:
    return Selection(torch.tensor(batch_index, dtype=torch.long),
                     torch.tensor(labels, dtype=torch.long),
                     torch.stack(boxes) if boxes else torch.zeros((0, 4)))
