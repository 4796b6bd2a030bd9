"""The one-command SLS demo on scikit-learn's bundled handwritten digits: nothing is downloaded.

    python tools/demo.py [--work-dir work_dirs/demo] [--threads N] [--quick]

(``bash tools/run_demo.sh`` sets the environment up first when needed, then runs this.)

The whole story; training and testing run mmsls's ``tools/train.py`` / ``tools/test.py`` (MMEngine's
Runner) on the configs in ``configs/demo/``, one process per stage:

(a) pre-train a small ViT (8 layers x 64 dims) on digit identity (``vit_digits_pretrain.py``);
(b) transfer it with RepAdapter, backbone frozen, to a geometric task: in which quadrant of a larger
    canvas the digit is drawn (``vit_repadapter_quadrant.py``);
(c) SLS analysis: t-SNE silhouette of every layer on training images, plots, kept depth k, and
(d) pruning to k layers, re-training adapters and head (``vit_repadapter_quadrant_sls.py``);
(e) test both models with ``tools/test.py``, the pruned checkpoint with the unpruned config;
(f) merge the adapters into the backbone (:func:`mmsls.adapters.merge_adapters`), checking outputs;
(g) measure the throughput of the merged pruned vs the merged unpruned model, interleaved in this
    run, and the parameters each task stores (:func:`mmsls.apis.export_task`, as
    ``tools/export_task.py``).

Every stage is seeded: a run reproduces the previous one on the same machine. The report goes to
``WORK_DIR/report.md`` (numbers also in ``report.json``) and is printed at the end; each stage's
full log is ``WORK_DIR/<stage>.log``. ``--quick`` runs the same pipeline with a few epochs (tests).
"""
import argparse
import contextlib
import io
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DATASETS
from torch import nn

from mmsls.adapters import merge_adapters
from mmsls.apis import export_task, init_model
from mmsls.depth import prunable_units

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / 'configs' / 'demo'
PRETRAIN_CONFIG = CONFIGS / 'vit_digits_pretrain.py'
PETL_CONFIG = CONFIGS / 'vit_repadapter_quadrant.py'
SLS_CONFIG = CONFIGS / 'vit_repadapter_quadrant_sls.py'
#: What a run (re)creates in the work dir.
OUTPUTS = ('pretrain', 'petl', 'sls', 'test_petl', 'test_sls', 'tasks', 'report.md', 'report.json')
#: ``--quick``: epochs per training stage and the SLS sample size.
QUICK_EPOCHS = dict(pretrain=15, petl=8, sls=1)
QUICK_SLS_SAMPLES = 200
#: The goal of the demo (issue 7): prune at least one layer, lose at most this many accuracy points.
MAX_ACCURACY_DROP = 2.0

# Of a stage's output, the console shows the Runner's epoch lines and SLS's messages (with their
# continuation lines: the score table), not progress bars; the stage's log file gets everything.
_LOG_LINE = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - mmengine - \w+ - (.*)$')
_SHOWN = re.compile(r'Epoch\((train|val|test)\)|^SLS|^AdaptedBackbone')
_PROGRESS_BAR = re.compile(r'^\[[> ]*\] \d+/\d+')
_ACCURACY = re.compile(r'accuracy/top1: ([\d.]+)')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='SLS demo on scikit-learn\'s bundled digits: pre-train, PETL transfer, SLS '
        'analysis, pruning, re-training, test, merge, measure')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where the stages and the report go (default: work_dirs/demo)')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads of every stage (default: 1; the matrices are small, and '
                        'one thread per process stays fast when other processes share the cores)')
    parser.add_argument('--quick', action='store_true',
                        help=f'epochs per stage {QUICK_EPOCHS}, {QUICK_SLS_SAMPLES} SLS samples: '
                        'the whole pipeline in minutes, with meaningless numbers (for tests)')
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    return args


class Demo:
    """Runs the stages in order and keeps what the report needs in :attr:`results`."""

    def __init__(self, work_dir: Path, threads: int, quick: bool):
        self.work_dir = work_dir
        self.threads = threads
        self.quick = quick
        self.results: Dict[str, object] = dict(seconds={})
        self.env = dict(os.environ, PYTHONUNBUFFERED='1')
        self.env['PYTHONPATH'] = os.pathsep.join(
            filter(None, [str(REPO), os.environ.get('PYTHONPATH')]))
        self.env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self._stage_started = time.perf_counter()

    def run(self) -> dict:
        started = time.perf_counter()
        self.prepare_work_dir()

        self.stage('a', 'pre-train the ViT (8 layers x 64 dims) on digit identity, 10 classes')
        pretrained, self.results['source_accuracy'] = self.train('pretrain', PRETRAIN_CONFIG)
        self.done('pretrain')
        init_option = f'model.backbone.init_cfg.checkpoint={pretrained}'

        self.stage('b', 'transfer with RepAdapter, backbone frozen, to where the digit is '
                   '(4 quadrants)')
        petl, _ = self.train('petl', PETL_CONFIG, init_option)
        self.done('petl')

        self.stage('c+d', 'SLS analysis (t-SNE silhouette per layer), prune, re-train')
        sls_options = [init_option, f'load_from={petl}']
        if self.quick:
            sls_options.append(f'custom_hooks.0.num_samples={QUICK_SLS_SAMPLES}')
        pruned, _ = self.train('sls', SLS_CONFIG, *sls_options)
        self.results['sls'] = json.loads((self.work_dir / 'sls' / 'sls_scores.json').read_text())
        self.done('sls')

        self.stage('e', 'test both models (the pruned one with the unpruned config)')
        self.results['petl_accuracy'] = self.test('test_petl', petl)
        self.results['sls_accuracy'] = self.test('test_sls', pruned)
        self.done('test')

        self.stage('f+g', 'merge the adapters, measure throughput and storage')
        # Quiet MMEngine here: its info messages, and the warning that the plain pre-trained
        # backbone lacks the adapters' keys (export_task checks keys itself), would bury our lines.
        MMLogger.get_current_instance().setLevel(logging.ERROR)
        torch.set_num_threads(self.threads)
        self.results.update(merge_and_time(petl, pruned, self.quick))
        self.results['storage'] = export_tasks(dict(petl=petl, sls=pruned), pretrained,
                                               self.work_dir / 'tasks')
        self.done('measure')

        self.results['total_seconds'] = time.perf_counter() - started
        self.results['checkpoints'] = dict(pretrain=pretrained, petl=petl, sls=pruned)
        return self.results

    def train(self, stage: str, config: Path, *cfg_options: str) -> Tuple[str, float]:
        """Train ``config`` into ``WORK_DIR/<stage>``; return its last checkpoint and the last
        validation accuracy."""
        stage_dir = self.work_dir / stage
        options = list(cfg_options)
        if self.quick:
            options.append(f'train_cfg.max_epochs={QUICK_EPOCHS[stage]}')
        args = ['--work-dir', stage_dir] + (['--cfg-options', *options] if options else [])
        lines = self.tool(stage, 'train.py', config, *args)
        accuracies = [float(match.group(1)) for match in map(_ACCURACY.search, lines) if match]
        return (stage_dir / 'last_checkpoint').read_text().strip(), accuracies[-1]

    def test(self, stage: str, checkpoint: str) -> float:
        """Test ``checkpoint`` with the PETL (unpruned) config; return its top-1 accuracy."""
        metrics = self.work_dir / stage / 'metrics.json'
        self.tool(stage, 'test.py', PETL_CONFIG, checkpoint, '--work-dir', self.work_dir / stage,
                  '--out-metrics', metrics)
        return float(json.loads(metrics.read_text())['accuracy/top1'])

    def tool(self, stage: str, tool: str, *args) -> List[str]:
        """Run ``tools/<tool>`` in its own process, showing its progress; return its output."""
        log_path = self.work_dir / f'{stage}.log'
        command = [sys.executable, str(REPO / 'tools' / tool), *map(str, args)]
        lines, shown = [], False
        with open(log_path, 'w') as log, subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                env=self.env) as process:
            log.write(' '.join(command) + '\n')
            for line in process.stdout:
                log.write(line)
                line = line.rstrip('\n')
                lines.append(line)
                match = _LOG_LINE.match(line)
                if match:
                    line = match.group(1)
                    shown = bool(_SHOWN.search(line))
                if shown and not _PROGRESS_BAR.match(line):
                    print('    ' + line, flush=True)
        if process.returncode != 0:
            print('\n'.join(lines[-40:]), file=sys.stderr)
            raise SystemExit(f'stage {stage} failed: {tool} exited with {process.returncode}; '
                             f'full log: {log_path}')
        return lines

    def prepare_work_dir(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for name in OUTPUTS:
            path = self.work_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def stage(self, letter: str, title: str) -> None:
        print(f'\n[{letter}] {title}', flush=True)
        self._stage_started = time.perf_counter()

    def done(self, key: str) -> None:
        seconds = time.perf_counter() - self._stage_started
        self.results['seconds'][key] = seconds
        print(f'    ... {seconds:.0f} s', flush=True)


def test_batch(cfg: Config, model: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
    """All test images, preprocessed by ``model``'s data preprocessor, and their labels."""
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    items = [dataset[i] for i in range(len(dataset))]
    batch = model.data_preprocessor(dict(inputs=[item['inputs'] for item in items],
                                         data_samples=[item['data_samples'] for item in items]))
    labels = torch.cat([sample.gt_label for sample in batch['data_samples']])
    return batch['inputs'], labels


def forward_seconds(model: nn.Module, inputs: torch.Tensor, repeats: int) -> List[float]:
    """Wall seconds of each of ``repeats`` forward passes of ``model`` over ``inputs``."""
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            model(inputs, mode='tensor')
            times.append(time.perf_counter() - start)
    return times


def merge_and_time(petl_checkpoint: str, sls_checkpoint: str, quick: bool) -> dict:
    """(f) merge both models' adapters, checking their outputs; (g) time them, interleaved."""
    cfg = Config.fromfile(str(PETL_CONFIG))
    models, merged = {}, {}
    for name, checkpoint in (('petl', petl_checkpoint), ('sls', sls_checkpoint)):
        model = init_model(cfg, checkpoint)  # pruned to the checkpoint's recorded structure
        if not models:
            inputs, labels = test_batch(cfg, model)
        with torch.no_grad():
            before = model(inputs, mode='tensor')
            num_merged = merge_adapters(model, strict=True)
            after = model(inputs, mode='tensor')
        merged[name] = dict(
            adapters_merged=num_merged, layers=len(prunable_units(model)),
            max_abs_logit_change=float((after - before).abs().max()),
            accuracy=float((after.argmax(1) == labels).float().mean() * 100))
        print(f'    {name}: merged {num_merged} RepAdapters into a plain '
              f'{merged[name]["layers"]}-layer ViT; max |logit change| '
              f'{merged[name]["max_abs_logit_change"]:.1e}, '
              f'accuracy {merged[name]["accuracy"]:.2f}%',
              flush=True)
        models[name] = model
    # Warm up, then alternate the models so that load from other processes hits both alike.
    repeats, rounds = (2, 3) if quick else (5, 9)
    times = {name: [] for name in models}
    for name, model in models.items():
        forward_seconds(model, inputs, 2)
    for _ in range(rounds):
        for name, model in models.items():
            times[name] += forward_seconds(model, inputs, repeats)
    medians = {name: statistics.median(values) for name, values in times.items()}
    speed = dict(images_per_second={name: len(inputs) / s for name, s in medians.items()},
                 ratio=medians['petl'] / medians['sls'], batch_size=len(inputs),
                 threads=torch.get_num_threads(), passes_per_model=repeats * rounds)
    print(f'    throughput of the merged models (batch {len(inputs)}, {speed["threads"]} threads): '
          f'unpruned {speed["images_per_second"]["petl"]:.0f} img/s, pruned '
          f'{speed["images_per_second"]["sls"]:.0f} img/s: {speed["ratio"]:.2f}x', flush=True)
    return dict(merge=merged, throughput=speed)


def export_tasks(checkpoints: Dict[str, str], pretrained: str, out_dir: Path) -> dict:
    """Write each model's task file over the shared backbone; return its parameter counts."""
    out_dir.mkdir(exist_ok=True)
    storage = {}
    for name, checkpoint in checkpoints.items():
        out = out_dir / f'{name}.pth'
        with contextlib.redirect_stdout(io.StringIO()):  # MMEngine prints each checkpoint it loads
            counts = export_task(Config.fromfile(str(PETL_CONFIG)), checkpoint, str(out),
                                 pretrained)
        storage[name] = dict(counts, path=str(out), bytes=out.stat().st_size)
        print(f'    {name}: the task file {out} stores {counts["stored"]:,} parameters '
              f'({out.stat().st_size / 1024:.0f} KiB) over the shared backbone', flush=True)
    return storage


def report_markdown(results: dict, work_dir: Path, command: str) -> str:
    """The report: a table of the three models, the SLS decision, the measurements, the plots."""
    sls, storage, speed, merge = (results[key] for key in ('sls', 'storage', 'throughput', 'merge'))
    num_layers, kept = len(sls['scores']), sls['kept_depth']
    whole = storage['petl']['unpruned']
    change = results['sls_accuracy'] - results['petl_accuracy']
    goal_met = kept < num_layers and change >= -MAX_ACCURACY_DROP

    def stored(name):
        return f'{storage[name]["stored"]:,} ({100 * storage[name]["stored"] / whole:.1f}%)'

    rows = [
        ('source: ViT trained on digit identity (10 classes)',
         f'{results["source_accuracy"]:.2f}', f'{num_layers} of {num_layers}',
         '-', f'{whole - storage["petl"]["stored"]:,} (shared by all tasks)'),
        ('PETL: RepAdapter, frozen backbone, quadrant (4 classes)',
         f'{results["petl_accuracy"]:.2f}',
         f'{num_layers} of {num_layers}', f'{speed["images_per_second"]["petl"]:.0f} (1.00x)',
         stored('petl')),
        ('SLS: pruned + re-trained, quadrant', f'{results["sls_accuracy"]:.2f}',
         f'**{kept} of {num_layers}**',
         f'{speed["images_per_second"]["sls"]:.0f} (**{speed["ratio"]:.2f}x**)', stored('sls')),
    ]
    table = ['| model | test accuracy (%) | layers kept | throughput, img/s (pruned/unpruned) '
             '| parameters stored per task (% of the whole model) |', '|---|---|---|---|---|']
    table += ['| ' + ' | '.join(row) + ' |' for row in rows]
    plots = [work_dir / 'sls' / name for name in ('sls_scores.png', 'sls_tsne.png')]
    seconds = ', '.join(f'{key} {value:.0f} s' for key, value in results['seconds'].items())
    lines = [
        '# mmsls demo: SLS on scikit-learn\'s bundled digits',
        '',
        'A ViT (8 layers x 64 dims; images resized to 32x32 px, patches of 8 px) pre-trained '
        'on digit identity, transferred with RepAdapter (frozen backbone) to a geometric task, in '
        'which quadrant of a 16x16 canvas the digit is drawn, pruned in depth by SLS and '
        're-trained. Accuracies are on the 450 test digits, which neither training nor the SLS '
        'sample ever sees.',
        '',
        *table,
        '',
        f'- SLS kept **{kept} of {num_layers} layers**; accuracy change {change:+.2f} points. '
        f'Goal (prune >= 1 layer, lose <= {MAX_ACCURACY_DROP:g} points): '
        f'**{"met" if goal_met else "NOT met"}**.',
        f'- SLS scores (t-SNE silhouette by quadrant, layer 1 first, {sls["num_samples"]} training '
        f'images): {" ".join(f"{score:.3f}" for score in sls["scores"])}; threshold '
        f'{sls["alpha"]} x {sls["scores"][-1]:.3f} = {sls["threshold"]:.3f}.',
        f'- Merge: {merge["petl"]["adapters_merged"]} and {merge["sls"]["adapters_merged"]} '
        'RepAdapters folded into the backbone; max |logit change| '
        f'{max(m["max_abs_logit_change"] for m in merge.values()):.1e}; merged accuracies '
        f'{merge["petl"]["accuracy"]:.2f} / {merge["sls"]["accuracy"]:.2f}.',
        f'- Throughput: merged models, batch of {speed["batch_size"]}, {speed["threads"]} CPU '
        f'thread(s), median of {speed["passes_per_model"]} interleaved passes each.',
        f'- Storage: the frozen pre-trained backbone ({whole - storage["petl"]["stored"]:,} '
        'parameters) is shared; a task file holds its adapters, its head and the kept depth: '
        f'{storage["petl"]["path"]} ({storage["petl"]["bytes"] / 1024:.0f} KiB), '
        f'{storage["sls"]["path"]} ({storage["sls"]["bytes"] / 1024:.0f} KiB). The whole model '
        f'has {whole:,} parameters.',
        f'- Plots: {plots[0]} (score per layer, threshold, kept depth), {plots[1]} (t-SNE of '
        'every layer).',
        f'- Time: {seconds}; total {results["total_seconds"] / 60:.1f} min.',
        f'- Command: `{command}`',
    ]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
    work_dir = Path(args.work_dir)
    print(f'mmsls demo on scikit-learn\'s bundled digits (no downloads), into {work_dir}'
          + (' (--quick: numbers meaningless)' if args.quick else ''), flush=True)
    results = Demo(work_dir, args.threads, args.quick).run()
    command = ' '.join(['python tools/demo.py', *(sys.argv[1:] if argv is None else argv)])
    report = report_markdown(results, work_dir, command)
    (work_dir / 'report.md').write_text(report)
    (work_dir / 'report.json').write_text(json.dumps(results, indent=2))
    print('\n' + report + f'\nreport: {work_dir / "report.md"}')


if __name__ == '__main__':
    main()
