"""Every depth criterion on the same per-layer features, side by side: scores, kept depths, one plot.

Examples::

    # Capture the features of a trained checkpoint (as tools/analyze_layers.py does), then score them
    # with SLS's t-SNE silhouette, the raw-feature silhouette and the linear probe; --bypass adds
    # UPDP's per-block bypass cost on a sample of the training set.
    python tools/compare_criteria.py CONFIG CHECKPOINT --alpha 0.3 --bypass

    # Or score features saved before (--save-features), without a model.
    python tools/compare_criteria.py --features work_dirs/x/features.npz

Writes ``compare_criteria.json`` and ``compare_criteria.png`` to the work dir. The plot shows each
criterion's scores divided by its top layer's score, so the SLS threshold is the same line (alpha) for
all of them.
"""
import argparse
import copy
import json
import os
import os.path as osp
import time

import numpy as np
import torch
from matplotlib.figure import Figure
from mmengine.config import DictAction
from mmengine.registry import DATASETS
from mmengine.runner import Runner

from mmsls.apis import init_model
from mmsls.criteria import select_depth

# Criteria compared, as (criterion, backend) pairs registered in mmsls.criteria.
CRITERIA = (('tsne_silhouette', None), ('raw_silhouette', 'sklearn'), ('linear_probe', 'numpy'))


def parse_args():
    parser = argparse.ArgumentParser(description='Compare depth criteria on the same features')
    parser.add_argument('config', nargs='?', help='config file the checkpoint was trained with')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file')
    parser.add_argument('--features', help='an .npz written by --save-features: score these '
                        'instead of capturing (no config or checkpoint needed)')
    parser.add_argument('--save-features', action='store_true',
                        help='also write the captured features to <work-dir>/features.npz')
    parser.add_argument('--alpha', type=float, default=0.3, help='threshold fraction of the rule')
    parser.add_argument('--num-samples', type=int, default=1000, help='sample size N')
    parser.add_argument('--tsne-backend', default='fast', choices=['sklearn', 'fast', 'torch'],
                        help="backend of SLS's t-SNE silhouette")
    parser.add_argument('--seed', type=int, default=0, help='seed of the sample and the criteria')
    parser.add_argument('--batch-size', type=int, default=None, help='images per forward pass')
    parser.add_argument('--pipeline', choices=['train', 'test'], default='test',
                        help='load the sample unaugmented (the test pipeline, annotations loaded '
                        'first; default) or with the train pipeline')
    parser.add_argument('--bypass', action='store_true',
                        help="also measure UPDP's bypass cost of every removable block")
    parser.add_argument('--bypass-samples', type=int, default=256,
                        help='training samples the bypass cost is measured on')
    parser.add_argument('--bypass-metric', choices=['loss', 'error'], default='loss')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--work-dir', help='output dir (default: work_dirs/<config name>/'
                        'compare_criteria, or the features file\'s dir)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    args = parser.parse_args()
    if (args.features is None) == (args.checkpoint is None):
        parser.error('give CONFIG CHECKPOINT, or --features FILE.npz')
    if args.features and args.bypass:
        parser.error('--bypass needs the model: give CONFIG CHECKPOINT instead of --features')
    return args


def load_features(path):
    """Per-layer features, labels and unit names from an .npz of --save-features."""
    data = np.load(path)
    count = len([key for key in data.files if key.startswith('layer_')])
    features = [data[f'layer_{layer}'] for layer in range(1, count + 1)]
    names = [str(name) for name in data['unit_names']] if 'unit_names' in data.files else \
        [f'layer {layer}' for layer in range(1, count + 1)]
    return features, data['labels'], names


def capture(args):
    """The trained model, its config and its captured features."""
    from mmsls.analysis import analysis_pipeline, capture_layer_features

    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    cfg = model.cfg
    dataset = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset))
    pipeline = analysis_pipeline(cfg, args.pipeline)
    captured = capture_layer_features(
        model, dataset, args.num_samples, seed=args.seed, pipeline=pipeline,
        batch_size=args.batch_size or cfg.train_dataloader.get('batch_size', 8))
    return model, cfg, captured.features, captured.labels, captured.unit_names


def bypass_costs(args, cfg, model, kept_depth):
    """Per-unit bypass cost increase, and the greedy choice removing as many blocks as SLS does."""
    from mmsls.analysis.block_bypass import BypassEvaluator, sample_training_batches
    from mmsls.criteria.block_bypass import greedy_bypass_selection, single_bypass_costs
    from mmsls.depth import depth_keep, prunable_units

    dataloader = Runner.build_dataloader(copy.deepcopy(cfg.train_dataloader))
    batches = sample_training_batches(dataloader, args.bypass_samples, args.seed)
    evaluator = BypassEvaluator(model, batches, args.bypass_metric)
    units = prunable_units(model)
    candidates = [unit.name for unit in units if not unit.required]
    costs = single_bypass_costs(evaluator, candidates)
    keep = set(depth_keep(model, kept_depth))
    count = sum(1 for position, unit in enumerate(units) if position not in keep)
    greedy = greedy_bypass_selection(evaluator, candidates, num_remove=count) if count else None
    return costs, [] if greedy is None else list(greedy.removed)


def score_all(features, labels, args):
    """Each criterion's DepthSelection and its scoring time."""
    results = {}
    for criterion, backend in CRITERIA:
        start = time.perf_counter()
        selection = select_depth(features, labels, alpha=args.alpha, seed=args.seed,
                                 backend=backend or args.tsne_backend, criterion=criterion)
        results[criterion] = (selection, time.perf_counter() - start)
    return results


def format_table(names, results, costs, greedy, alpha):
    width = max(len('unit'), *(len(name) for name in names))
    header = f'{"layer":>5}  {"unit":<{width}}' + ''.join(f'  {name:>16}' for name in results)
    if costs is not None:
        header += f'  {"bypass cost":>12}'
    lines = [header, '-' * len(header)]
    for layer, name in enumerate(names, start=1):
        row = f'{layer:>5}  {name:<{width}}'
        for selection, _ in results.values():
            mark = ' ' if layer <= selection.kept_depth else '*'
            row += f'  {selection.scores[layer - 1]:>15.4f}{mark}'
        if costs is not None:
            cost = f'{costs[name]:.4f}' if name in costs else '-'
            row += f'  {cost:>11}{"*" if name in greedy else " "}'
        lines.append(row)
    lines.append('-' * len(header))
    lines.append(f'* = pruned. Kept depth at alpha={alpha:g} (of {len(names)}): ' + ', '.join(
        f'{name} {selection.kept_depth} ({seconds:.1f} s)'
        for name, (selection, seconds) in results.items()))
    if costs is not None:
        lines.append(f'bypass: greedy removal of as many blocks as the t-SNE silhouette prunes: '
                     f'{greedy}')
    return '\n'.join(lines)


def plot(path, names, results, costs, greedy, alpha):
    layers = np.arange(1, len(names) + 1)
    rows = 2 if costs is not None else 1
    fig = Figure(figsize=(max(8.0, 0.4 * len(names) + 5), 3.5 * rows), layout='constrained')
    axes = np.atleast_1d(fig.subplots(rows, 1, sharex=True))
    for index, (name, (selection, _)) in enumerate(results.items()):
        colour = f'C{index}'
        top = selection.scores[-1]
        relative = np.asarray(selection.scores) / top if top > 0 else np.asarray(selection.scores)
        axes[0].plot(layers, relative, marker='o', color=colour, label=name)
        axes[0].axvline(selection.kept_depth + 0.05 * index, color=colour, linestyle=':',
                        label=f'{name}: kept depth {selection.kept_depth}')
    axes[0].axhline(alpha, color='black', linestyle='--', label=f'threshold alpha={alpha:g}')
    axes[0].set_ylabel('score / top layer\'s score')
    axes[0].legend(fontsize='small', loc='upper left', bbox_to_anchor=(1.01, 1.0))
    axes[0].grid(alpha=0.3)
    if costs is not None:
        values = [costs.get(name, np.nan) for name in names]
        colours = ['tab:red' if name in greedy else 'tab:grey' for name in names]
        axes[1].bar(layers, values, color=colours)
        axes[1].set_ylabel('bypass cost (red: greedy pick)')
        axes[1].grid(alpha=0.3)
    axes[-1].set_xticks(layers)
    axes[-1].set_xlabel('layer')
    fig.savefig(path, dpi=100)


def main():
    args = parse_args()
    model = cfg = None
    if args.features:
        features, labels, names = load_features(args.features)
        work_dir = args.work_dir or osp.dirname(osp.abspath(args.features))
    else:
        model, cfg, features, labels, names = capture(args)
        work_dir = args.work_dir or osp.join(
            './work_dirs', osp.splitext(osp.basename(args.config))[0], 'compare_criteria')
    os.makedirs(work_dir, exist_ok=True)
    if args.save_features and not args.features:
        np.savez(osp.join(work_dir, 'features.npz'), labels=labels, unit_names=np.array(names),
                 **{f'layer_{layer}': array for layer, array in enumerate(features, start=1)})

    results = score_all(features, labels, args)
    costs = greedy = None
    if args.bypass:
        costs, greedy = bypass_costs(args, cfg, model, results['tsne_silhouette'][0].kept_depth)
    print(format_table(names, results, costs, greedy, args.alpha))
    record = dict(alpha=args.alpha, units=names, num_samples=int(len(labels)), criteria={
        name: dict(scores=list(selection.scores), kept_depth=selection.kept_depth,
                   threshold=selection.threshold, backend=selection.backend, seconds=seconds)
        for name, (selection, seconds) in results.items()})
    if costs is not None:
        record['bypass'] = dict(metric=args.bypass_metric, costs=costs, greedy_removed=greedy)
    paths = [osp.join(work_dir, 'compare_criteria.json'), osp.join(work_dir, 'compare_criteria.png')]
    with open(paths[0], 'w') as file:
        json.dump(record, file, indent=2)
    plot(paths[1], names, results, costs, greedy, args.alpha)
    print('wrote ' + ', '.join(paths))


if __name__ == '__main__':
    main()
