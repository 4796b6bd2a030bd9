"""Benchmark of the SLS depth criterion: reference vs fast backends on synthetic 12-layer features.

For every case (a layer profile with a known kept depth, see ``mmsls.criteria.synthetic``),
sample size N and seed, every variant runs ``select_depth`` once, interleaved (the order alternates
with the seed, so a drifting machine load hits all variants alike). Reported per case and N: median
wall time of each variant and its ratio to the reference (and the same for CPU seconds, which the
machine's load affects much less; the 1-minute load average is printed too), the kept depth of each
seed, the agreement of the fast scores with the reference scores (max abs difference,
correlation, and max abs difference of the scores divided by the top layer's, which is what the
threshold rule compares) and the spread of the scores across seeds.

Variants: ``sklearn`` (the reference, one thread), ``sklearn-mt`` (the reference with sklearn's
default threads: all cores), ``fast`` (400 iterations, Barnes-Hut angle 0.65), ``fast-500it``
(its earlier default: 500 iterations, angle 0.5), ``torch`` (on ``--device``: CUDA when present,
else the CPU), ``auto`` (``select_depth(backend='auto')`` on ``--device``: torch on CUDA, else the
reference). With ``--profile``, the torch variant's seconds per stage (features, affinities,
pca_init, optimise, silhouette; the device synchronised after each) are printed per run and as
medians. ``--quick``: the 10-class case at N = 100, 16 dims, 1 seed, 300 iterations for every
variant: checks that the script runs, in seconds (too few iterations for the kept depths to mean
anything).

Example (the numbers in docs/benchmarks.md)::

    python tools/benchmarks/bench_select_depth.py --sizes 1000 --seeds 5
    python tools/benchmarks/bench_select_depth.py --sizes 1000 --seeds 5 --variants sklearn torch \
        --device cuda --profile
"""
import argparse
import dataclasses
import json
import os
import time
from statistics import median

import numpy as np
import torch

from mmsls.criteria import TSNESettings, select_depth
from mmsls.criteria.synthetic import BENCHMARK_CASES, synthetic_layer_features

VARIANTS = {
    'sklearn': dict(backend='sklearn'),
    'sklearn-mt': dict(backend='sklearn', num_threads=None),
    'fast': dict(backend='fast'),
    'fast-500it': dict(backend='fast', tsne=TSNESettings(max_iter=500), angle=0.5),
    'torch': dict(backend='torch'),
    'auto': dict(backend='auto'),
}
PROFILED = ('torch', )


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[500, 1000, 2000],
                        help='sample sizes N')
    parser.add_argument('--seeds', type=int, default=5, help='seeds 0..S-1 per case and N')
    parser.add_argument('--cases', nargs='+', default=[case.name for case in BENCHMARK_CASES],
                        choices=[case.name for case in BENCHMARK_CASES])
    default_variants = ['sklearn', 'fast'] + (['torch'] if torch.cuda.is_available() else [])
    parser.add_argument('--variants', nargs='+', default=default_variants, choices=list(VARIANTS),
                        help='the first one is the reference of the ratios')
    parser.add_argument('--num-dims', type=int, default=768)
    parser.add_argument('--device', help="device of the 'torch' and 'auto' variants (default: "
                        'cuda when present, else cpu)')
    parser.add_argument('--profile', action='store_true',
                        help="print the 'torch' variant's seconds per stage")
    parser.add_argument('--quick', action='store_true',
                        help='N = 100, 16 dims, 1 seed, 300 iterations: a check that it runs')
    parser.add_argument('--json', help='also write all raw results to this file')
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.seeds, args.num_dims, args.cases = [100], 1, 16, ['rise_fall_10cls']
    return args


def variant_options(name, device, quick, profile):
    options = dict(VARIANTS[name])
    if name in ('torch', 'auto'):
        options['device'] = device
    if quick:
        # Same settings for every variant, 'fast' keeping its Barnes-Hut angle.
        options['tsne'] = dataclasses.replace(options.get('tsne', TSNESettings()), max_iter=300)
    if profile is not None and name in PROFILED:
        options['profile'] = profile
    return options


def run_variant(name, features, labels, seed, device=None, quick=False, profile=False):
    stages = {} if profile and name in PROFILED else None
    options = variant_options(name, device, quick, stages)
    wall, cpu = time.perf_counter(), time.process_time()
    selection = select_depth(features, labels, seed=seed, **options)
    # CPU seconds (all threads of this process) measure the work whatever the machine's load;
    # wall seconds are what a user waits.
    return dict(seconds=time.perf_counter() - wall, cpu_seconds=time.process_time() - cpu,
                load=os.getloadavg()[0], kept_depth=selection.kept_depth,
                scores=list(selection.scores), threshold=selection.threshold,
                backend=selection.backend, stages=stages)


def profile_rows(case, num_samples, runs):
    """Markdown rows: median seconds per stage of the profiled variants, largest marked."""
    rows = []
    for name, variant_runs in runs.items():
        profiles = [run['stages'] for run in variant_runs if run['stages']]
        if not profiles:
            continue
        stages = {stage: median(profile[stage] for profile in profiles) for stage in profiles[0]}
        total = sum(stages.values())
        largest = max(stages, key=stages.get)
        cells = ' | '.join(f'{stages[stage]:.3f} ({stages[stage] / total:.0%})'
                           for stage in stages)
        rows.append(f'| {case.name} | {num_samples} | {name} | {cells} | {total:.3f} | '
                    f'{largest} |')
    return rows


def summarise(case, num_samples, variants, runs):
    """Markdown rows for one case and N from ``runs[variant][seed]``."""
    reference = variants[0]
    ref_time = median(run['seconds'] for run in runs[reference])
    ref_cpu = median(run['cpu_seconds'] for run in runs[reference])
    ref_scores = np.array([run['scores'] for run in runs[reference]])
    rows = []
    for name in variants:
        seconds = median(run['seconds'] for run in runs[name])
        cpu_seconds = median(run['cpu_seconds'] for run in runs[name])
        load = median(run['load'] for run in runs[name])
        depths = [run['kept_depth'] for run in runs[name]]
        scores = np.array([run['scores'] for run in runs[name]])
        # Spread across seeds: the largest per-layer standard deviation; distance of the scores
        # to the threshold shows how far the decision is from flipping.
        spread = scores.std(0).max()
        margin = min(np.abs(np.array(run['scores']) - run['threshold']).min() for run in runs[name])
        if name == reference:
            agreement = '(reference)'
        else:
            diff = np.abs(scores - ref_scores).max()
            corr = np.corrcoef(scores.ravel(), ref_scores.ravel())[0, 1]
            # The decision compares every score with alpha times the top one: relative scores.
            relative_diff = np.abs(scores / scores[:, -1:] - ref_scores / ref_scores[:, -1:]).max()
            agreement = f'{diff:.3f} / {corr:.4f} / {relative_diff:.3f}'
        rows.append(f'| {case.name} | {num_samples} | {name} | {seconds:.1f} | '
                    f'{ref_time / seconds:.2f}x | {cpu_seconds:.1f} | '
                    f'{ref_cpu / cpu_seconds:.2f}x | '
                    f'{load:.1f} | {" ".join(map(str, depths))} '
                    f'(expected {case.expected_depth}) | {agreement} | {spread:.3f} | '
                    f'{margin:.3f} |')
    return rows


def main():
    args = parse_args()
    cases = [case for case in BENCHMARK_CASES if case.name in args.cases]
    device = torch.device(args.device if args.device is not None else
                          'cuda' if torch.cuda.is_available() else 'cpu')
    print(f'variants {args.variants}, sizes {args.sizes}, seeds 0..{args.seeds - 1}, '
          f'{args.num_dims} dims, torch device {device}'
          f'{" (" + torch.cuda.get_device_name(device) + ")" if device.type == "cuda" else ""}, '
          f'{torch.get_num_threads()} torch threads', flush=True)
    profile_table = []
    header = ['| case | N | variant | median wall s | wall speed-up | median CPU s | '
              'CPU ratio | load avg | kept depth per seed | vs reference: max abs diff / corr. / '
              'max abs diff of score / top score | '
              'max per-layer std over seeds | min distance to threshold |',
              '|---|---|---|---|---|---|---|---|---|---|---|---|']
    table, raw = list(header), []
    for case in cases:
        for num_samples in args.sizes:
            features, labels = synthetic_layer_features(case.separated_fractions, num_samples,
                                                        case.num_classes, args.num_dims, seed=0)
            runs = {name: [] for name in args.variants}
            for seed in range(args.seeds):
                order = args.variants if seed % 2 == 0 else args.variants[::-1]
                for name in order:
                    result = run_variant(name, features, labels, seed, device, args.quick,
                                         args.profile)
                    runs[name].append(result)
                    raw.append(dict(case=case.name, num_samples=num_samples, variant=name,
                                    seed=seed, **result))
                    print(f'{case.name} N={num_samples} seed={seed} {name}: '
                          f'{result["seconds"]:.1f} s ({result["cpu_seconds"]:.1f} CPU s, load '
                          f'{result["load"]:.1f}), k={result["kept_depth"]}, scores '
                          f'{" ".join(f"{s:.3f}" for s in result["scores"])}'
                          f' ({result["backend"]})', flush=True)
                    if result['stages']:
                        print('  seconds per stage: ' + ', '.join(
                            f'{stage} {seconds:.3f}' for stage, seconds in
                            result['stages'].items()), flush=True)
            rows = summarise(case, num_samples, args.variants, runs)
            table += rows
            print('\n'.join(header + rows), flush=True)
            if args.profile:
                profile_table += profile_rows(case, num_samples, runs)
    print('\nAll results:\n' + '\n'.join(table))
    if profile_table:
        print('\nSeconds per stage (median over seeds; share of the total):\n'
              '| case | N | variant | features | affinities | pca_init | optimise | silhouette | '
              'total | largest stage |\n|---|---|---|---|---|---|---|---|---|---|\n'
              + '\n'.join(profile_table))
    if args.json:
        with open(args.json, 'w') as file:
            json.dump(raw, file, indent=1)


if __name__ == '__main__':
    main()
