"""What mmsls tells the user through MMEngine's logger: model cost around pruning, warnings, and
one summary line in place of MMEngine's per-parameter messages."""
import logging
import re
import warnings
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Elements of all parameters of ``model``."""
    return sum(param.numel() for param in model.parameters())


def probe_input_hw(backbone: nn.Module) -> Tuple[int, int]:
    """The input size the backbone was built for (``img_size``, its patch embedding's input size
    or ``pretrain_img_size``), else 224 x 224."""
    for owner, name in ((backbone, 'img_size'), (getattr(backbone, 'patch_embed', None),
                                                 'init_input_size'),
                        (backbone, 'pretrain_img_size')):
        size = getattr(owner, name, None)
        if isinstance(size, int):
            return size, size
        if isinstance(size, (tuple, list)) and len(size) == 2:
            return int(size[0]), int(size[1])
    return 224, 224


def backbone_flops(backbone: nn.Module, input_hw: Tuple[int, int]) -> Optional[int]:
    """FLOPs of one forward of ``backbone`` on one ``input_hw`` image (MMEngine's FlopAnalyzer,
    multiply-adds counted once), or None where the backbone cannot be traced.

    Runs in eval mode without gradients (train mode restored), so no statistics change.
    """
    from mmengine.analysis import FlopAnalyzer
    param = next(backbone.parameters(), None)
    device = param.device if param is not None else torch.device('cpu')
    inputs = torch.zeros(1, 3, *input_hw, device=device)
    was_training = backbone.training
    backbone.eval()  # a statement: mmpretrain backbones' train() returns None
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')  # tracer warnings
            analyzer = FlopAnalyzer(backbone, inputs)
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return int(analyzer.total())
    except Exception:  # a backbone the tracer cannot follow: report the parameters only
        return None
    finally:
        if was_training:
            backbone.train()


def model_cost(model: nn.Module, backbone: nn.Module,
               input_hw: Optional[Tuple[int, int]] = None) -> dict:
    """``params`` of the model, ``flops`` of its backbone at ``input_hw`` and that size."""
    input_hw = input_hw or probe_input_hw(backbone)
    return dict(params=count_parameters(model), flops=backbone_flops(backbone, input_hw),
                input_hw=tuple(input_hw))


def format_cost_change(before: dict, after: dict) -> str:
    """``params A -> B (-x%), backbone FLOPs C -> D (-y%) per HxW image``."""

    def amount(value):
        for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
            if value >= scale:
                return f'{value / scale:.2f}{unit}'
        return str(value)

    def change(old, new):
        share = f' (-{100 * (old - new) / old:.1f}%)' if old else ''
        return f'{amount(old)} -> {amount(new)}{share}'

    text = f'params {change(before["params"], after["params"])}'
    if before['flops'] is not None and after['flops'] is not None:
        height, width = after['input_hw']
        text += f', backbone FLOPs {change(before["flops"], after["flops"])} per {height}x{width} image'
    return text


@contextmanager
def warnings_to_logger(logger: logging.Logger) -> Iterator[None]:
    """Send the Python warnings raised inside to ``logger`` (MMEngine's) as WARNING records, once
    the block is done, instead of stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('default')  # once per place, as Python shows them
        try:
            yield
        finally:
            for warning in caught:
                logger.warning(f'{warning.category.__name__}: {warning.message}')


class _Collapse(logging.Filter):
    """Drops the records whose message matches ``pattern``, counting them."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = re.compile(pattern)
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.pattern.search(record.getMessage()):
            self.count += 1
            return False
        return True


#: MMEngine's optimizer constructor, once per frozen parameter (with a ``paramwise_cfg``).
FROZEN_PARAMETER_MESSAGE = r'is skipped since its requires_grad=False'
#: MMEngine's ``init_weights``, once per parameter when the logger has no log file.
INIT_INFO_MESSAGE = r'^\s*\S+ - torch\.Size\(\['


@contextmanager
def summarised(logger: logging.Logger, pattern: str, summary: str) -> Iterator[None]:
    """Inside, drop ``logger``'s records matching ``pattern``; after, log ``summary`` once,
    formatted with their ``count``, if there were any."""
    collapse = _Collapse(pattern)
    logger.addFilter(collapse)
    try:
        yield
    finally:
        logger.removeFilter(collapse)
    if collapse.count:
        logger.info(summary.format(count=collapse.count))
