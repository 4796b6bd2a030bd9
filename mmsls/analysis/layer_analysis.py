"""The SLS analysis of a model: capture per-layer features, score them, decide, write the report."""
import itertools
import json
import os.path as osp
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from mmsls.criteria import DepthSelection, depth_from_scores, select_depth
from .capture import LayerFeatures, capture_layer_features
from .plots import plot_layer_scores, plot_tsne_grid

SCORES_JSON = 'sls_scores.json'
SCORES_PNG = 'sls_scores.png'
TSNE_PNG = 'sls_tsne.png'


@dataclass
class LayerAnalysis:
    """Per-layer scores of a model's units on a labelled sample, and the sample's description.

    Attributes:
        selection (DepthSelection): The criterion's result (scores, kept depth for its alpha, and
            the 2-D embeddings if they were asked for).
        unit_names (list[str]): The scored units, layer 1 first.
        labels (np.ndarray): (N,) class of each sample.
        classes (tuple[str]): The dataset's class names.
        task (str): The task the samples were drawn for.
        num_images (int): Images run through the model.
        seed (int): Seed of the sample and of the criterion.
        capture_seconds (float): Time spent capturing features.
        scoring_seconds (float): Time spent scoring them.
    """
    selection: DepthSelection
    unit_names: List[str]
    labels: np.ndarray
    classes: tuple
    task: str
    num_images: int
    seed: int
    capture_seconds: float
    scoring_seconds: float

    @property
    def scores(self) -> List[float]:
        """Per-layer scores, layer 1 first."""
        return list(self.selection.scores)

    def decision(self, alpha: float) -> Dict[str, float]:
        """``alpha``, ``threshold`` and ``kept_depth`` of the SLS rule at ``alpha``."""
        kept_depth, threshold = depth_from_scores(self.selection.scores, alpha)
        return dict(alpha=alpha, threshold=threshold, kept_depth=kept_depth)

    def to_dict(self, alphas: Sequence[float] = ()) -> dict:
        """A JSON-safe record: the decision at the criterion's alpha first, then at ``alphas``."""
        selection = self.selection
        alphas = [alpha for alpha in alphas if alpha != selection.alpha]
        decisions = [self.decision(alpha) for alpha in [selection.alpha, *alphas]]
        return dict(
            alpha=selection.alpha, threshold=selection.threshold, kept_depth=selection.kept_depth,
            scores=self.scores, units=self.unit_names, decisions=decisions,
            criterion=selection.criterion, backend=selection.backend, seed=self.seed,
            task=self.task,
            num_samples=int(len(self.labels)), num_images=self.num_images,
            num_classes=int(len(np.unique(self.labels))), classes=list(self.classes),
            samples_per_class={str(int(cls)): int(count)
                               for cls, count in zip(*np.unique(self.labels, return_counts=True))},
            time=dict(capture_s=round(self.capture_seconds, 3),
                      scoring_s=round(self.scoring_seconds, 3)))


def analyze_layers(model: nn.Module,
                   dataset,
                   alpha: float = 0.3,
                   num_samples: int = 1000,
                   backend: str = 'sklearn',
                   seed: int = 0,
                   return_embeddings: bool = False,
                   criterion_options: Optional[dict] = None,
                   **capture_options) -> LayerAnalysis:
    """Run the SLS analysis of ``model`` on a class-balanced sample of ``dataset``.

    Args:
        model (nn.Module): The PETL-trained model (possibly DDP-wrapped).
        dataset: A dataset of the training split.
        alpha (float): Threshold fraction of the SLS rule. Defaults to 0.3.
        num_samples (int): Sample size N (see :func:`capture_layer_features`). Defaults to 1000.
        backend (str): Backend of the criterion (``'sklearn'``, ``'fast'``, ``'torch'``,
            ``'auto'``). ``'torch'`` and ``'auto'`` run on the model's device unless
            ``criterion_options`` names a ``device``; ``'auto'`` is ``'torch'`` where that is CUDA,
            else the reference. Defaults to ``'sklearn'``.
        seed (int): Seed of the sample and of the criterion. Defaults to 0.
        return_embeddings (bool): Keep the per-layer 2-D embeddings (for :func:`plot_tsne_grid`).
            Defaults to False.
        criterion_options (dict, optional): Backend options passed to
            :func:`mmsls.criteria.select_depth` (e.g. ``num_workers``, ``device``).
            Defaults to None.
        **capture_options: Passed to :func:`capture_layer_features` (``batch_size``, ``pipeline``,
            ``task``, ``max_images``, ``tokens_per_class_per_image``, ``progress``).

    Returns:
        LayerAnalysis: The scores and the decision at ``alpha``.
    """
    start = time.perf_counter()
    captured: LayerFeatures = capture_layer_features(model, dataset, num_samples, seed=seed,
                                                     **capture_options)
    captured_at = time.perf_counter()
    criterion_options = dict(criterion_options or {})
    if backend in ('torch', 'auto'):
        criterion_options.setdefault('device', model_device(model))
    selection = select_depth(captured.features, captured.labels, alpha=alpha, backend=backend,
                             seed=seed, return_embeddings=return_embeddings, **criterion_options)
    return LayerAnalysis(selection=selection, unit_names=captured.unit_names,
                         labels=captured.labels, classes=captured.classes, task=captured.task,
                         num_images=captured.num_images, seed=seed,
                         capture_seconds=captured_at - start,
                         scoring_seconds=time.perf_counter() - captured_at)


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (the CPU for a model with neither)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device('cpu')


def write_analysis(out_dir: str, analysis: LayerAnalysis, alphas: Sequence[float] = (),
                   extra: Optional[dict] = None, required: Sequence[bool] = ()) -> Dict[str, str]:
    """Write ``sls_scores.json``, ``sls_scores.png`` and, with embeddings, ``sls_tsne.png``.

    Args:
        out_dir (str): The directory to write to (it must exist).
        analysis (LayerAnalysis): The analysis to report.
        alphas (Sequence[float]): More alphas to report decisions for, besides the analysis's.
        extra (dict, optional): More JSON-safe fields for ``sls_scores.json``; a ``kept_units``
            list (the applied decision) is what the plot shades against.
        required (Sequence[bool]): Per unit, whether pruning keeps it whatever the depth; marked
            in the plot.

    Returns:
        dict: The written paths under ``json``, ``scores_png`` and ``tsne_png``.
    """
    record = dict(analysis.to_dict(alphas), **(extra or {}))
    paths = dict(json=osp.join(out_dir, SCORES_JSON), scores_png=osp.join(out_dir, SCORES_PNG))
    with open(paths['json'], 'w') as file:
        json.dump(record, file, indent=2)
    kept = record.get('kept_units')
    plot_layer_scores(paths['scores_png'], record['scores'], record['decisions'],
                      title=f'SLS: {analysis.task}, N={record["num_samples"]}',
                      kept=None if kept is None else [name in kept for name in analysis.unit_names],
                      required=required)
    if analysis.selection.embeddings is not None:
        paths['tsne_png'] = osp.join(out_dir, TSNE_PNG)
        plot_tsne_grid(paths['tsne_png'], analysis.selection.embeddings, analysis.labels,
                       analysis.scores, analysis.classes)
    return paths


def add_to_visualizer(visualizer, analysis: LayerAnalysis, paths: Dict[str, str], step: int,
                      applied_depth: Optional[int] = None) -> None:
    """Send the analysis to an MMEngine visualizer (TensorBoard, local files, ...).

    The scores form one series, ``sls/score``, whose step is the layer (1 = first); the threshold
    and the depths go at the training ``step``, as do the figures written by
    :func:`write_analysis` (``sls_scores``, ``sls_tsne``) through ``add_image``.
    """
    for layer, score in enumerate(analysis.scores, start=1):
        visualizer.add_scalar('sls/score', score, step=layer)
    scalars = {'sls/threshold': analysis.selection.threshold,
               'sls/kept_depth': analysis.selection.kept_depth}
    if applied_depth is not None:
        scalars['sls/applied_depth'] = applied_depth
    visualizer.add_scalars(scalars, step=step)
    for key, name in (('scores_png', 'sls_scores'), ('tsne_png', 'sls_tsne')):
        if key in paths:
            with Image.open(paths[key]) as image:
                visualizer.add_image(name, np.asarray(image.convert('RGB')), step=step)


def format_score_table(analysis: LayerAnalysis, alphas: Sequence[float],
                       required: Sequence[bool] = ()) -> str:
    """A text table: one row per layer (score, and what each alpha does to it), then the depths.

    Args:
        analysis (LayerAnalysis): The analysis to show.
        alphas (Sequence[float]): One column per alpha.
        required (Sequence[bool]): Per unit, whether pruning keeps it whatever the depth (the first
            block of a Swin stage); such a unit above the kept depth shows as ``required``.

    Returns:
        str: The table.
    """
    decisions = [analysis.decision(alpha) for alpha in alphas]
    required = list(required) or [False] * len(analysis.scores)
    name_width = max(len('unit'), *(len(name) for name in analysis.unit_names))
    header = f'{"layer":>5}  {"unit":<{name_width}}  {"score":>8}' + ''.join(
        f'  {"a=" + format(alpha, "g"):>8}' for alpha in alphas)
    lines = [header, '-' * len(header)]
    for layer, (name, score) in enumerate(zip(analysis.unit_names, analysis.scores), start=1):
        fates = [('kept' if layer <= decision['kept_depth'] else
                  'required' if required[layer - 1] else 'pruned') for decision in decisions]
        lines.append(f'{layer:>5}  {name:<{name_width}}  {score:>8.4f}'
                     + ''.join(f'  {fate:>8}' for fate in fates))
    lines.append('-' * len(header))
    for decision in decisions:
        lines.append(f'alpha={decision["alpha"]:g}: threshold {decision["threshold"]:.4f}, '
                     f'kept depth {decision["kept_depth"]} of {len(analysis.scores)}')
    return '\n'.join(lines)
