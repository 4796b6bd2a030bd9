"""Labelled feature vectors for dense tasks: token labels from a segmentation map, region pooling.

Geometry: the batch input is ``(H, W)`` pixels; a unit's token grid ``(h, w)`` tiles it with a
stride of ``ceil(H / h)`` (patch embeddings and patch merging pad the input up to whole tokens),
token ``(i, j)`` covering rows ``[i * s, (i + 1) * s)`` and columns likewise. Images sit at the top
left of the batch input (OpenMMLab's data preprocessors pad at the bottom and right).
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F


def grid_stride(input_hw: Tuple[int, int], grid_hw: Tuple[int, int]) -> Tuple[int, int]:
    """Pixels per token along (y, x) for a grid of ``grid_hw`` tokens over an ``input_hw`` input."""
    return math.ceil(input_hw[0] / grid_hw[0]), math.ceil(input_hw[1] / grid_hw[1])


def majority_token_labels(seg_map: torch.Tensor, grid_hw: Tuple[int, int], stride: Tuple[int, int],
                          num_classes: int, max_ignored: float = 0.5) -> torch.Tensor:
    """The majority class of the pixels each token covers; -1 for tokens mostly without a label.

    Pixels whose value is not a class in ``0..num_classes - 1`` (the ignore label, 255 in
    OpenMMLab) and the padding beyond the map count as unlabelled. A token keeps the most frequent
    class among its labelled pixels (the lowest class id on ties), unless more than ``max_ignored``
    of its pixels are unlabelled.

    Args:
        seg_map (torch.Tensor): (H, W) integer label map, at the top left of the token grid.
        grid_hw (tuple[int, int]): The token grid (h, w).
        stride (tuple[int, int]): Pixels per token along (y, x).
        num_classes (int): Number of classes.
        max_ignored (float): Largest fraction of unlabelled pixels a labelled token may have.
            Defaults to 0.5.

    Returns:
        torch.Tensor: (h, w) int64 labels, -1 where the token is skipped.
    """
    (h, w), (sy, sx) = grid_hw, stride
    unlabelled = num_classes
    labels = seg_map.long()
    labels = torch.where((labels >= 0) & (labels < num_classes), labels, unlabelled)
    padded = labels.new_full((h * sy, w * sx), unlabelled)
    rows, cols = min(labels.shape[0], h * sy), min(labels.shape[1], w * sx)
    padded[:rows, :cols] = labels[:rows, :cols]
    token = torch.arange(h * w, device=labels.device).view(h, 1, w, 1).expand(h, sy, w, sx)
    pixels = token.reshape(h * sy, w * sx) * (num_classes + 1) + padded
    counts = torch.bincount(pixels.flatten(), minlength=h * w * (num_classes + 1))
    counts = counts.view(h * w, num_classes + 1)
    majority = counts[:, :num_classes].argmax(dim=1)
    skipped = counts[:, unlabelled] > max_ignored * sy * sx
    return torch.where(skipped, -1, majority).view(h, w)


def fit_label_map(seg_map: torch.Tensor, image_hw: Tuple[int, int]) -> torch.Tensor:
    """``seg_map`` at the image's size (nearest-neighbour resized if it has another size).

    Test pipelines often load annotations after resizing the image (metrics are computed at the
    original size); the map then has the original size while the image has ``image_hw``.
    """
    if tuple(seg_map.shape[-2:]) == tuple(image_hw):
        return seg_map
    resized = F.interpolate(seg_map[None, None].float(), size=tuple(image_hw), mode='nearest')
    return resized[0, 0].to(seg_map.dtype)


def token_boxes(rows: torch.Tensor, cols: torch.Tensor, stride: Tuple[int, int]) -> torch.Tensor:
    """The pixel boxes ``(x1, y1, x2, y2)`` of the tokens at ``rows``, ``cols``."""
    sy, sx = stride
    return torch.stack([cols * sx, rows * sy, (cols + 1) * sx, (rows + 1) * sy], dim=1).float()


def pool_regions(grid: torch.Tensor, batch_index: torch.Tensor, boxes: torch.Tensor,
                 input_hw: Tuple[int, int]) -> torch.Tensor:
    """The mean of the tokens inside each box, on this grid's resolution.

    A token is inside a box if its centre is; a box too small to contain any token centre takes the
    token under its own centre. So a box that is exactly a token of this grid gives that token, and
    the same box on a coarser grid gives the tokens covering it there.

    Args:
        grid (torch.Tensor): (B, C, h, w) tokens of one unit.
        batch_index (torch.Tensor): (R,) image of each box.
        boxes (torch.Tensor): (R, 4) boxes ``(x1, y1, x2, y2)`` in input pixels.
        input_hw (tuple[int, int]): The batch input size (H, W) the grid tiles.

    Returns:
        torch.Tensor: (R, C) pooled tokens.
    """
    _, channels, h, w = grid.shape
    if len(boxes) == 0:
        return grid.new_zeros((0, channels))
    sy, sx = grid_stride(input_hw, (h, w))
    boxes = boxes.to(grid.device, torch.float64)
    batch_index = batch_index.to(grid.device)
    row0, row1 = _covered(boxes[:, 1], boxes[:, 3], sy, h)
    col0, col1 = _covered(boxes[:, 0], boxes[:, 2], sx, w)
    # Sums over rectangles from the integral image: four lookups per box.
    integral = F.pad(grid.double().cumsum(2).cumsum(3), (1, 0, 1, 0))

    def corner(rows, cols):
        return integral[batch_index, :, rows, cols]  # (R, C)

    sums = corner(row1, col1) - corner(row0, col1) - corner(row1, col0) + corner(row0, col0)
    area = ((row1 - row0) * (col1 - col0)).unsqueeze(1)
    return (sums / area).to(grid.dtype)


def _covered(low: torch.Tensor, high: torch.Tensor, stride: int,
             size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Token index ranges ``[start, end)`` whose centres ``(t + 0.5) * stride`` lie in [low, high).

    An empty range becomes the token under the centre of ``[low, high)``.
    """
    start = torch.ceil(low / stride - 0.5).clamp(0, size).long()
    end = torch.ceil(high / stride - 0.5).clamp(0, size).long()
    centre = torch.floor((low + high) / 2 / stride).clamp(0, size - 1).long()
    empty = end <= start
    return torch.where(empty, centre, start), torch.where(empty, centre + 1, end)
