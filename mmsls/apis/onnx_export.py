"""ONNX export of a trained model in tensor mode, its check with onnxruntime, and throughput.

The exported graph is the model's ``forward(inputs, mode='tensor')`` on preprocessed images (the
data preprocessor's normalisation and the task's post-processing, such as NMS, stay outside): a
classifier's logits, a detector's per-level head outputs, a segmentor's decode-head logits, as a
flat tuple of tensors. Export uses torch's TorchScript-based exporter (``dynamo=False``), with a
fixed input shape.
"""
import os
import time
import warnings
from typing import Dict, List, Sequence

import numpy as np
import torch
from torch import nn

from mmsls.compat import require
from .deploy import flatten_tensors


class TensorMode(nn.Module):
    """``model(inputs, mode='tensor')`` with its outputs flattened into a tuple: what an exporter
    traces.

    Args:
        model (nn.Module): An OpenMMLab model (``BaseModel``).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor):
        return tuple(flatten_tensors(self.model(inputs, mode='tensor')))


def export_onnx(model: nn.Module, inputs: torch.Tensor, path: str, opset: int = 17) -> List[str]:
    """Export ``model`` in tensor mode on ``inputs``' shape to ``path``; return the output names."""
    require('onnx', 'onnx', 'ONNX export (torch.onnx writes the graph with it)')
    wrapped = TensorMode(model).eval()
    with torch.no_grad():
        count = len(wrapped(inputs))
    names = [f'output{index}' for index in range(count)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # tracer warnings about shape-dependent Python code
        torch.onnx.export(wrapped, (inputs, ), path, input_names=['inputs'], output_names=names,
                          opset_version=opset, dynamo=False)
    return names


def onnx_session(path: str, threads: int = 0):
    """An onnxruntime CPU session of ``path`` with ``threads`` intra-op threads (0: all cores)."""
    require('onnxruntime', 'onnxruntime', 'Running the exported model')
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def run_onnx(session, inputs: torch.Tensor) -> List[np.ndarray]:
    """The outputs of an onnxruntime session on ``inputs``."""
    return session.run(None, {session.get_inputs()[0].name: inputs.numpy()})


def compare_outputs(reference: Sequence[torch.Tensor], outputs: Sequence[np.ndarray]) -> Dict[str, float]:
    """``max_abs`` difference and ``max_ref`` (largest absolute reference value) over all outputs."""
    if len(reference) != len(outputs):
        raise ValueError(f'the ONNX model has {len(outputs)} outputs, torch {len(reference)}')
    diffs, scales = [], []
    for want, got in zip(reference, outputs):
        if tuple(want.shape) != tuple(got.shape):
            raise ValueError(f'an ONNX output has shape {tuple(got.shape)}, torch '
                             f'{tuple(want.shape)}')
        diffs.append((torch.from_numpy(got) - want).abs().max().item())
        scales.append(want.abs().max().item())
    return dict(max_abs=max(diffs), max_ref=max(scales))


def torch_throughput(model: nn.Module, inputs: torch.Tensor, threads: int, iters: int = 20,
                     warmup: int = 3) -> float:
    """Images per second of ``model`` in tensor mode with ``threads`` torch threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    wrapped = TensorMode(model).eval()
    try:
        with torch.no_grad():
            return _images_per_second(lambda: wrapped(inputs), len(inputs), iters, warmup)
    finally:
        torch.set_num_threads(previous)


def onnx_throughput(path: str, inputs: torch.Tensor, threads: int, iters: int = 20,
                    warmup: int = 3) -> float:
    """Images per second of the exported model under onnxruntime with ``threads`` threads."""
    session = onnx_session(path, threads)
    feed = {session.get_inputs()[0].name: inputs.numpy()}
    return _images_per_second(lambda: session.run(None, feed), len(inputs), iters, warmup)


def all_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def _images_per_second(step, batch: int, iters: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return batch * iters / (time.perf_counter() - start)
