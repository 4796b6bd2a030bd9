"""Timing helpers shared by the benchmark scripts in ``tools/benchmarks``.

One protocol everywhere: every variant runs its warm-up forwards first, then the variants take
turns in rounds (the order rotated each round, so a drifting machine load or clock hits all of
them alike), each turn timing ``iters`` calls in a row; the figure of a variant is the median
over rounds. On CUDA a turn is timed with CUDA events (the device's own clock); on the CPU with
both ``time.perf_counter`` (wall) and ``time.process_time`` (CPU seconds of this process).
"""
import argparse
import contextlib
import time
from typing import Callable, Dict, List, Optional

import torch

DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def add_timing_arguments(parser: argparse.ArgumentParser, batch_size: int, rounds: int,
                         threads: int = 1) -> None:
    """The options every device-aware benchmark takes."""
    parser.add_argument('--device', help='cpu, cuda or cuda:N (default: cuda when present)')
    parser.add_argument('--dtype', choices=sorted(DTYPES), default='fp32',
                        help='fp16/bf16: forwards under torch.autocast with that dtype')
    parser.add_argument('--batch-size', '--batch', type=int, default=batch_size,
                        help='images per forward (the SLS paper: 1 for its code, 64 for VTAB)')
    parser.add_argument('--rounds', type=int, default=rounds, help='interleaved rounds')
    parser.add_argument('--warmup', type=int,
                        help='untimed forwards per variant first (default: 50 on CUDA, 1 on CPU)')
    parser.add_argument('--iters', type=int,
                        help='forwards timed in a row per variant and round (default: 20 on CUDA, '
                        '1 on CPU)')
    parser.add_argument('--threads', type=int, default=threads, help='CPU threads of torch')
    parser.add_argument('--quick', action='store_true',
                        help='tiny models and inputs: checks that the script runs, in seconds')


def parse_device(name: Optional[str]) -> torch.device:
    """``name`` as a device (default: CUDA when present), with a clear error for missing CUDA."""
    device = torch.device(name if name is not None else
                          'cuda' if torch.cuda.is_available() else 'cpu')
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'--device {name}: CUDA is not available on this machine; use '
                         '--device cpu')
    return device


def parse_dtype(name: str) -> torch.dtype:
    """``'fp32'``, ``'fp16'`` or ``'bf16'`` as a torch dtype."""
    if name not in DTYPES:
        raise ValueError(f'dtype must be one of {sorted(DTYPES)}, got {name!r}')
    return DTYPES[name]


def precision(device: torch.device, dtype: torch.dtype):
    """The context a forward runs in for ``--dtype``: nothing for fp32, else ``torch.autocast``.

    Autocast (what MMEngine's AMP uses) rather than casting the weights: OpenMMLab models build
    some tensors in float32 inside their forward (mmdet's Swin its attention masks), which a
    model cast to half would then multiply with half tensors and fail.
    """
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (nothing to wait for on the CPU)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_calls(function: Callable[[], object], iters: int,
               device: torch.device) -> Dict[str, float]:
    """Seconds per call of ``function``, over ``iters`` calls in a row, per clock.

    Args:
        function (Callable): What to time (e.g. one forward pass).
        iters (int): Calls in a row.
        device (torch.device): Where ``function`` runs.

    Returns:
        dict: On CUDA ``{'cuda': s}`` (events); on the CPU ``{'wall': s, 'cpu': s}``
        (perf_counter and process time: with one thread, the CPU seconds are the work of the
        calls whatever else loads the machine).
    """
    if device.type == 'cuda':
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            function()
        end.record()
        end.synchronize()
        return dict(cuda=start.elapsed_time(end) / 1000 / iters)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        function()
    return dict(wall=(time.perf_counter() - wall) / iters, cpu=(time.process_time() - cpu) / iters)


def interleaved_rounds(variants: Dict[str, Callable[[], object]],
                       device: torch.device,
                       rounds: int,
                       iters: int = 1,
                       warmup: int = 1) -> Dict[str, Dict[str, List[float]]]:
    """Seconds per call of every variant in every round, per clock (see the module docstring).

    Args:
        variants (dict): Name -> callable, e.g. a model's forward on a fixed batch.
        device (torch.device): Where the variants run.
        rounds (int): Interleaved rounds.
        iters (int): Calls timed in a row per variant and round. Defaults to 1.
        warmup (int): Untimed calls per variant before the first round. Defaults to 1.

    Returns:
        dict: Clock (``'cuda'``, or ``'wall'`` and ``'cpu'``) -> name -> ``rounds`` seconds per
        call.
    """
    for function in variants.values():
        for _ in range(warmup):
            function()
    synchronize(device)
    names = list(variants)
    times: Dict[str, Dict[str, List[float]]] = {}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            for clock, seconds in time_calls(variants[name], iters, device).items():
                times.setdefault(clock, {other: [] for other in names})[name].append(seconds)
    return times


def default_warmup_iters(device: torch.device, warmup: Optional[int],
                         iters: Optional[int]):
    """The SLS authors' protocol on CUDA (50 warm-up calls, 100 timed ones: 20 per round over 5
    rounds); one of each on the CPU, where a forward takes seconds. Given values win."""
    cuda = device.type == 'cuda'
    return (warmup if warmup is not None else 50 if cuda else 1,
            iters if iters is not None else 20 if cuda else 1)


def count_flops(function: Callable[[], object]) -> int:
    """Floating-point operations of one call, as ``torch.utils.flop_counter`` counts them
    (matrix products, convolutions and attention; 2 per multiply-accumulate)."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        function()
    return counter.get_total_flops()


def describe_device(device: torch.device) -> str:
    """A one-line description of the device for benchmark headers."""
    if device.type == 'cuda':
        return f'{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA ' \
               f'{torch.version.cuda})'
    return f'CPU, {torch.get_num_threads()} thread(s) (torch {torch.__version__})'
