"""What mmsls tells the user through MMEngine's logger: model cost around pruning, warnings, and
one summary line in place of MMEngine's per-parameter messages."""
import logging
import re
import warnings
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Sequence, Tuple

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


def backbone_flops(backbone: nn.Module, input_hw: Tuple[int, int],
                   units: Sequence = ()) -> Tuple[Optional[int], Dict[str, int]]:
    """FLOPs of one forward of ``backbone`` on one ``input_hw`` image, and of each of ``units``.

    Counted with PyTorch's ``FlopCounterMode`` (matrix products, convolutions, attention) and
    reported as multiply-adds, the convention of OpenMMLab's ``get_flops`` tools. Runs in eval
    mode without gradients (train mode restored), so no statistics change. ``(None, {})`` where the
    backbone cannot run on a blank image of that size.
    """
    from torch.utils.flop_counter import FlopCounterMode
    param = next(backbone.parameters(), None)
    device = param.device if param is not None else torch.device('cpu')
    names = {id(module): name for name, module in backbone.named_modules()}
    root = type(backbone).__name__
    was_training = backbone.training
    backbone.eval()  # a statement: mmpretrain backbones' train() returns None
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            backbone(torch.zeros(1, 3, *input_hw, device=device))
    except Exception:  # a backbone that needs other inputs: report the parameters only
        return None, {}
    finally:
        if was_training:
            backbone.train()
    counts = counter.get_flop_counts()
    per_unit = {unit.name: sum(counts.get(f'{root}.{names[id(unit.module)]}', {}).values()) // 2
                for unit in units if id(unit.module) in names}
    return counter.get_total_flops() // 2, per_unit


def pruning_cost(model: nn.Module, backbone: nn.Module, units: Sequence,
                 input_hw: Optional[Tuple[int, int]] = None) -> dict:
    """What :func:`format_pruning_change` needs, measured before pruning: the model's
    ``params``, the backbone's ``flops`` at ``input_hw`` (default :func:`probe_input_hw`) and
    each unit's ``unit_flops``."""
    input_hw = tuple(input_hw or probe_input_hw(backbone))
    flops, unit_flops = backbone_flops(backbone, input_hw, units)
    return dict(params=count_parameters(model), flops=flops, unit_flops=unit_flops,
                input_hw=input_hw)


def model_cost(model: nn.Module, backbone: nn.Module,
               input_hw: Optional[Tuple[int, int]] = None) -> dict:
    """``params`` of the model, ``flops`` of its backbone at ``input_hw`` (default
    :func:`probe_input_hw`) and that ``input_hw``."""
    input_hw = tuple(input_hw or probe_input_hw(backbone))
    return dict(params=count_parameters(model), flops=backbone_flops(backbone, input_hw)[0],
                input_hw=input_hw)


def _amount(value: float) -> str:
    for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if value >= scale:
            return f'{value / scale:.2f}{unit}'
    return str(value)


def _change(old: float, new: float) -> str:
    share = f' (-{100 * (old - new) / old:.1f}%)' if old else ''
    return f'{_amount(old)} -> {_amount(new)}{share}'


def format_cost_change(before: dict, after: dict) -> str:
    """``params A -> B (-x%), backbone FLOPs C -> D (-y%) per HxW image`` of two
    :func:`model_cost` results."""
    text = f'params {_change(before["params"], after["params"])}'
    if before['flops'] is not None and after['flops'] is not None:
        height, width = after['input_hw']
        text += (f', backbone FLOPs {_change(before["flops"], after["flops"])} '
                 f'per {height}x{width} image')
    return text


def format_pruning_change(before: dict, params_after: int, removed: Sequence[str]) -> str:
    """``params A -> B (-x%), backbone FLOPs C -> D (-y%) per HxW image`` for the removal of the
    units named ``removed`` (their FLOPs, counted in ``before``, go)."""
    text = f'params {_change(before["params"], params_after)}'
    if before['flops'] is not None and all(name in before['unit_flops'] for name in removed):
        after = before['flops'] - sum(before['unit_flops'][name] for name in removed)
        height, width = before['input_hw']
        text += f', backbone FLOPs {_change(before["flops"], after)} per {height}x{width} image'
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
