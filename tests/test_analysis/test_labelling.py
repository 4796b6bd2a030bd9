"""Dense labelling: majority token labels and region pooling on token grids."""
import torch

from mmsls.analysis.labelling import (fit_label_map, grid_stride, majority_token_labels,
                                      pool_regions, token_boxes)

IGNORE = 255


def test_majority_label_per_token():
    seg = torch.full((8, 8), 0)
    seg[:4, 4:] = 2                      # token (0, 1): all class 2
    seg[4:, :4] = 1
    seg[4:6, :4] = 3                     # token (1, 0): 8 px of 3, 8 px of 1 -> tie -> lower id 1
    seg[4:, 4:] = IGNORE
    seg[7, 4:] = 2                       # token (1, 1): 12 of 16 ignored -> skipped
    labels = majority_token_labels(seg, (2, 2), (4, 4), num_classes=4)
    assert labels.tolist() == [[0, 2], [1, -1]]


def test_ignore_fraction_threshold_and_padding_count_as_unlabelled():
    seg = torch.full((6, 8), 1)          # the grid covers 8 rows: 2 padding rows
    seg[0, 0:4] = IGNORE                 # token (0, 0): 4 of 16 ignored -> kept
    labels = majority_token_labels(seg, (2, 2), (4, 4), num_classes=2)
    # Bottom tokens: 8 real pixels + 8 padding = exactly half unlabelled -> kept.
    assert labels.tolist() == [[1, 1], [1, 1]]
    labels = majority_token_labels(seg[:5], (2, 2), (4, 4), num_classes=2)
    assert labels[1].tolist() == [-1, -1]  # 4 real, 12 padding


def test_values_outside_the_classes_are_unlabelled():
    seg = torch.full((4, 4), 7)
    seg[0, 0] = 0
    assert majority_token_labels(seg, (1, 1), (4, 4), num_classes=3).item() == -1
    seg[:3] = 2
    assert majority_token_labels(seg, (1, 1), (4, 4), num_classes=3).item() == 2


def test_fit_label_map_resizes_nearest_only_when_needed():
    seg = torch.tensor([[0, 1], [2, 3]])
    assert fit_label_map(seg, (2, 2)) is seg
    resized = fit_label_map(seg, (4, 6))
    assert resized.shape == (4, 6) and resized.dtype == seg.dtype
    assert set(resized.unique().tolist()) == {0, 1, 2, 3}
    assert resized[0, 0] == 0 and resized[-1, -1] == 3


def brute_force_pool(grid, batch_index, boxes, input_hw):
    _, _, h, w = grid.shape
    sy, sx = grid_stride(input_hw, (h, w))
    pooled = []
    for b, (x1, y1, x2, y2) in zip(batch_index.tolist(), boxes.tolist()):
        rows = [r for r in range(h) if y1 <= (r + 0.5) * sy < y2]
        cols = [c for c in range(w) if x1 <= (c + 0.5) * sx < x2]
        if not rows or not cols:
            rows = [min(int((y1 + y2) / 2 // sy), h - 1)] if not rows else rows
            cols = [min(int((x1 + x2) / 2 // sx), w - 1)] if not cols else cols
        pooled.append(grid[b][:, rows][:, :, cols].mean(dim=(1, 2)))
    return torch.stack(pooled)


def test_pool_regions_matches_the_mean_of_tokens_inside_each_box():
    generator = torch.Generator().manual_seed(0)
    grid = torch.randn(3, 5, 7, 9, generator=generator)
    input_hw = (56, 72)  # stride 8
    corners = torch.rand(40, 2, 2, generator=generator) * torch.tensor([72., 56.])
    boxes = torch.cat([corners.min(dim=1).values, corners.max(dim=1).values], dim=1)
    boxes[:5, 2:] = boxes[:5, :2] + 2  # tiny boxes: no token centre inside
    batch_index = torch.randint(0, 3, (40,), generator=generator)
    pooled = pool_regions(grid, batch_index, boxes, input_hw)
    torch.testing.assert_close(pooled, brute_force_pool(grid, batch_index, boxes, input_hw))


def test_a_token_box_gives_that_token_here_and_the_covering_token_on_a_coarser_grid():
    generator = torch.Generator().manual_seed(1)
    fine = torch.randn(1, 4, 8, 8, generator=generator)
    coarse = torch.randn(1, 4, 4, 4, generator=generator)
    rows, cols = torch.tensor([0, 3, 7]), torch.tensor([5, 2, 7])
    boxes = token_boxes(rows, cols, (8, 8))
    index = torch.zeros(3, dtype=torch.long)
    torch.testing.assert_close(pool_regions(fine, index, boxes, (64, 64)), fine[0, :, rows, cols].T)
    torch.testing.assert_close(pool_regions(coarse, index, boxes, (64, 64)),
                               coarse[0, :, rows // 2, cols // 2].T)


def test_pool_regions_without_boxes():
    assert pool_regions(torch.randn(2, 3, 4, 4), torch.zeros(0, dtype=torch.long),
                        torch.zeros((0, 4)), (16, 16)).shape == (0, 3)
