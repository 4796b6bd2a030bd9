"""Figures of the SLS analysis: scores per layer with the threshold (paper's Fig. 6), t-SNE grid
(Fig. 2).

Figures are drawn on ``matplotlib.figure.Figure`` objects directly (no pyplot), so no GUI backend or
global state is involved and plotting works in training processes and without a display.
"""
import math
from typing import Mapping, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure


def plot_layer_scores(path: str,
                      scores: Sequence[float],
                      decisions: Sequence[Mapping],
                      title: Optional[str] = None,
                      kept: Optional[Sequence[bool]] = None,
                      required: Sequence[bool] = ()) -> Figure:
    """Plot the score of every layer, the threshold line and the kept depth of each decision.

    The layers the model loses are shaded, and the required units (kept at any depth, e.g. the
    first block of a Swin stage) are marked.

    Args:
        path (str): The PNG file to write.
        scores (Sequence[float]): Per-layer scores, layer 1 first.
        decisions (Sequence[Mapping]): Dicts with ``alpha``, ``threshold`` and ``kept_depth``.
        title (str, optional): Figure title.
        kept (Sequence[bool], optional): Per layer, whether the applied decision keeps it (it may
            keep more than the rule's depth, e.g. SETR needs four layers). Defaults to the first
            decision's depth plus the required units.
        required (Sequence[bool]): Per layer, whether pruning keeps it whatever the depth.
            Defaults to none.

    Returns:
        Figure: The figure written.
    """
    layers = np.arange(1, len(scores) + 1)
    required = list(required) or [False] * len(scores)
    if kept is None:
        depth = decisions[0]['kept_depth'] if decisions else len(scores)
        kept = [layer <= depth or needed for layer, needed in zip(layers, required)]
    fig = Figure(figsize=(max(8.0, 0.35 * len(scores) + 5), 4.0), layout='constrained')
    ax = fig.subplots()
    ax.plot(layers, scores, marker='o', color='black', label='silhouette score')
    colours = ['tab:red', 'tab:blue', 'tab:green', 'tab:orange', 'tab:purple']
    for index, decision in enumerate(decisions):
        colour = colours[index % len(colours)]
        depth = decision['kept_depth']
        ax.axhline(decision['threshold'], color=colour, linestyle='--',
                   label=f'threshold (alpha={decision["alpha"]:g}): {decision["threshold"]:.3f}')
        ax.axvline(depth, color=colour, linestyle=':', label=f'kept depth {depth} '
                   f'(alpha={decision["alpha"]:g})')
    pruned = [layer for layer, keeps in zip(layers, kept) if not keeps]
    for position, layer in enumerate(pruned):
        ax.axvspan(layer - 0.5, layer + 0.5, color='grey', alpha=0.15,
                   label='pruned' if position == 0 else None)
    marked = [index for index, needed in enumerate(required) if needed]
    if marked:
        ax.scatter(layers[marked], np.asarray(scores)[marked], s=120, marker='s',
                   facecolors='none', edgecolors='tab:brown', zorder=3,
                   label='required (kept at any depth)')
    ax.set_xticks(layers)
    ax.set_xlim(0.5, len(scores) + 0.5)
    ax.set_xlabel('layer')
    ax.set_ylabel('silhouette score of the t-SNE embedding')
    ax.grid(alpha=0.3)
    ax.legend(fontsize='small', loc='upper left', bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    fig.savefig(path, dpi=100)
    return fig


def plot_tsne_grid(path: str,
                   embeddings: Sequence[np.ndarray],
                   labels: np.ndarray,
                   scores: Sequence[float],
                   class_names: Sequence[str] = ()) -> None:
    """Scatter plots of every layer's 2-D embedding, coloured by class, one panel per layer.

    Args:
        path (str): The PNG file to write.
        embeddings (Sequence[np.ndarray]): Per-layer (N, 2) points, layer 1 first.
        labels (np.ndarray): (N,) class of each point.
        scores (Sequence[float]): Per-layer scores, shown in the panel titles.
        class_names (Sequence[str]): Names for the legend, indexed by label. Defaults to ().
    """
    columns = math.ceil(math.sqrt(len(embeddings)))
    rows = math.ceil(len(embeddings) / columns)
    fig = Figure(figsize=(2.6 * columns, 2.6 * rows + 0.6), layout='constrained')
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    classes = np.unique(labels)
    palette = [f'C{index % 10}' for index in range(len(classes))]
    for layer, (ax, points) in enumerate(zip(axes, embeddings), start=1):
        for colour, cls in zip(palette, classes):
            mask = labels == cls
            name = class_names[cls] if cls < len(class_names) else str(cls)
            ax.scatter(points[mask, 0], points[mask, 1], s=4, color=colour, label=name)
        ax.set_title(f'layer {layer}: {scores[layer - 1]:.3f}', fontsize='small')
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(embeddings):]:
        ax.axis('off')
    if len(classes) <= 20:
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc='outside lower center', ncols=min(len(classes), 10),
                   fontsize='small', markerscale=3)
    fig.savefig(path, dpi=100)
