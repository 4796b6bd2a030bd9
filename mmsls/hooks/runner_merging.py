"""UPDP's linear forms and merges on a model that a Runner holds, with the optimizer and DDP following.

Linearising a unit adds parameters (the affine of the BatchNorms standing in for its LayerNorms);
merging replaces all of a unit's parameters by its merged block's. Either way the new parameters join
the optimizer param group that holds the unit's first optimised parameter (so they get its learning
rate and weight decay), after the parameters already there, and the replaced ones leave it with their
optimizer state. The rule depends only on the model, so a resumed run rebuilds the same groups in the
same order before the optimizer state loads. A unit none of whose parameters is trained (a frozen
backbone) gets frozen new parameters.
"""
import copy
from typing import Dict, List, Mapping, Sequence

from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from mmsls.depth import LinearizedBlocks, find_backbone, merge_blocks, unwrap_model
from mmsls.depth.linearize import apply_merged_structure


def linearize_runner_units(runner, names: Sequence[str], blend: float = 0.0) -> LinearizedBlocks:
    """:class:`~mmsls.depth.LinearizedBlocks` on ``runner.model``, its stand-ins optimised."""
    model = unwrap_model(runner.model)
    _, backbone = find_backbone(model)
    before = {name: list(backbone.get_submodule(name).parameters()) for name in names}
    blocks = LinearizedBlocks(model, list(names), blend)
    for name in blocks.names:
        swap_optimizer_parameters(runner, before[name], [], blocks.parameters([name]))
    _rewrap(runner, model)
    return blocks


def merge_runner_units(runner, names: Sequence[str]) -> Dict[str, nn.Module]:
    """:func:`mmsls.depth.merge_blocks` on ``runner.model``, with the optimizer and DDP following."""
    model = unwrap_model(runner.model)
    _, backbone = find_backbone(model)
    before = {name: list(backbone.get_submodule(name).parameters()) for name in names}
    merged = merge_blocks(model, list(names))
    for name, module in merged.items():
        swap_optimizer_parameters(runner, before[name], before[name], list(module.parameters()))
    _rewrap(runner, model)
    return merged


def apply_runner_merged_structure(runner, merged: Mapping[str, dict]) -> None:
    """Rebuild the merged units of a depth record in ``runner.model`` before its weights load."""
    model = unwrap_model(runner.model)
    _, backbone = find_backbone(model)
    before = {name: list(backbone.get_submodule(name).parameters()) for name in merged}
    built = apply_merged_structure(model, dict(merged))
    for name, module in built.items():
        swap_optimizer_parameters(runner, before[name], before[name], list(module.parameters()))
    if built:
        _rewrap(runner, model)


def swap_optimizer_parameters(runner, unit_params: List[nn.Parameter],
                              removed: List[nn.Parameter], added: List[nn.Parameter]) -> None:
    """Remove ``removed`` from the optimizer and add ``added`` to the group of ``unit_params``."""
    if not any(param.requires_grad for param in unit_params):
        for param in added:
            param.requires_grad_(False)
    optim_wrapper = runner.optim_wrapper
    if not isinstance(optim_wrapper, OptimWrapper):
        return      # not built yet: it will be built from the model as it is then
    wrappers = optim_wrapper.values() if isinstance(optim_wrapper, OptimWrapperDict) \
        else [optim_wrapper]
    unit_ids = [id(param) for param in unit_params]
    removed_ids = {id(param) for param in removed}
    for wrapper in wrappers:
        optimizer = wrapper.optimizer
        target = None
        for group in optimizer.param_groups:
            ids = {id(param) for param in group['params']}
            if target is None and any(param_id in ids for param_id in unit_ids):
                target = group
            group['params'] = [param for param in group['params'] if id(param) not in removed_ids]
        for param in removed:
            optimizer.state.pop(param, None)
        if target is not None:
            target['params'].extend(param for param in added if param.requires_grad)


def _rewrap(runner, model: nn.Module) -> None:
    """Rebuild a DDP wrapper around ``model`` so its reducer knows the new parameters."""
    if is_model_wrapper(runner.model):
        # wrap_model fills defaults into the config it gets: hand it a copy.
        wrapper_cfg = copy.deepcopy(runner.cfg.get('model_wrapper_cfg', None))
        runner.model = runner.wrap_model(wrapper_cfg, model)
