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


def _shaded_layers(fig):
    """The layers covered by the grey 'pruned' spans of the scores plot."""
    spans = [patch for patch in fig.axes[0].patches if patch.get_facecolor()[:3] != (1, 1, 1)]
    return sorted(round(patch.get_x() + patch.get_width() / 2) for patch in spans)


def test_scores_plot_shades_the_applied_decision_and_marks_required_units(tmp_path):
    scores = np.random.default_rng(1).uniform(0.1, 1, size=6).tolist()
    decision = [dict(alpha=0.3, threshold=0.2, kept_depth=1)]
    # The rule keeps 1 layer, the model keeps 4 (e.g. SETR's four outputs): only 5 and 6 go.
    applied = plot_layer_scores(str(tmp_path / 'a.png'), scores, decision,
                                kept=[True] * 4 + [False] * 2)
    assert _shaded_layers(applied) == [5, 6]
    # Swin-like: units 1 and 4 open a stage and stay at any depth.
    required = [True, False, False, True, False, False]
    swin = plot_layer_scores(str(tmp_path / 'b.png'), scores, decision, required=required)
    assert _shaded_layers(swin) == [2, 3, 5, 6]
    legend = [text.get_text() for text in swin.axes[0].get_legend().get_texts()]
    assert 'required (kept at any depth)' in legend and legend.count('pruned') == 1
    marker, = [c for c in swin.axes[0].collections if c.get_label().startswith('required')]
    assert marker.get_offsets()[:, 0].tolist() == [1, 4]
