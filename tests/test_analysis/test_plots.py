"""The figures: score per layer with threshold and kept depth, and the t-SNE grid."""
import numpy as np
from PIL import Image

from mmsls.analysis import plot_layer_scores, plot_tsne_grid


def test_plot_layer_scores_writes_a_png(tmp_path):
    path = tmp_path / 'scores.png'
    scores = np.random.default_rng(0).uniform(0, 1, size=12)
    plot_layer_scores(str(path), scores.tolist(),
                      [dict(alpha=0.3, threshold=0.3 * scores[-1], kept_depth=7),
                       dict(alpha=0.5, threshold=0.5 * scores[-1], kept_depth=9)], title='t')
    with Image.open(path) as image:
        assert image.format == 'PNG' and image.width > image.height > 100
        pixels = np.asarray(image.convert('RGB'))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # something was drawn


def test_plot_tsne_grid_one_panel_per_layer(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=60)
    embeddings = [rng.normal(size=(60, 2)) + labels[:, None] * layer for layer in range(5)]
    path = tmp_path / 'tsne.png'
    plot_tsne_grid(str(path), embeddings, labels, [0.1, 0.2, 0.3, 0.4, 0.5], ('a', 'b', 'c'))
    with Image.open(path) as image:
        # 5 panels -> a 3 x 2 grid of 2.6-inch panels at 100 dpi, plus the legend row.
        assert image.format == 'PNG' and image.width == 780 and image.height == 580
