"""Wherever mmsls is imported, a state dict that would leave some blocks of a backbone random is refused.

A pruned checkpoint names its kept blocks by their original indices, so loading it into a model of
the unpruned structure leaves the removed blocks with their random initial weights; MMEngine's loader
(``load_from``, ``resume``, ``init_cfg``) is non-strict and only warns about the missing keys. mmsls's
loader and hooks re-apply the checkpoint's depth record first; everything else is caught here.

Importing mmsls installs one global module-registration hook (torch's public
``register_module_module_registration_hook``): each module of a registered backbone family, once
it becomes a child of another module (``model.backbone``, ``AdaptedBackbone.backbone``), gets a
load-state-dict pre-hook, :func:`refuse_partial_blocks`. The pre-hook runs in every loading path,
``nn.Module.load_state_dict`` and MMEngine's ``load_state_dict`` alike, before any weight is copied.
It refuses a state dict that has weights for some blocks of the backbone and none for others; a state
dict for all blocks, or for none (a head-only or an unrelated checkpoint), passes, and so do extra
blocks the model lacks (a full checkpoint into a pruned model loads the kept blocks by their names).
"""
import torch
from torch import nn

from mmsls.compat import register_load_state_dict_pre_hook
from mmsls.families import find_family

_installed = []


def refuse_partial_blocks(backbone: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load-state-dict pre-hook of a backbone: raise if only some of its blocks get weights.

    Raises:
        ValueError: The state dict holds weights for some of the backbone's blocks but none for
            others; the message names them and the ways to load a pruned checkpoint.
    """
    family = find_family(backbone)
    if family is None:
        return
    containers = family.containers(backbone)
    named = set()
    for key in state_dict:
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        for container in containers:
            if key.startswith(container + '.'):
                named.add(f'{container}.{key[len(container) + 1:].split(".", 1)[0]}')
    if not named:
        return
    units = [unit.name for unit in family.units(backbone)]
    absent = [name for name in units if name not in named]
    if not absent or len(absent) == len(units):
        return
    extra = sorted(named - set(units))
    raise ValueError(
        f'the state dict has weights for {len(units) - len(absent)} of the {len(units)} blocks of '
        f'the {family.name} at "{prefix}" but none for {_listing(absent)}'
        + (f', and weights for blocks it does not have ({_listing(extra)})' if extra else '')
        + ': it is a checkpoint of a depth-pruned model (or of another depth), and loading it '
        'would leave random blocks where the pruned ones were. Load it into the structure it was '
        'saved from: mmsls.apis.init_model(config, checkpoint) and mmsls\'s tools re-apply its '
        'depth record (meta["mmsls_depth"]); a Runner of another train.py/test.py does so with '
        'custom_hooks=[dict(type="mmsls.DepthStructureHook")]; or write a plain config of the '
        'pruned model with tools/deploy.py')


def _listing(names) -> str:
    return ', '.join(names[:4]) + (f', ... ({len(names)} blocks)' if len(names) > 4 else '')


def _guard_family_backbone(parent: nn.Module, name: str, module: nn.Module) -> None:
    """Module-registration hook: give a newly registered family backbone the pre-hook, once."""
    if not isinstance(module, nn.Module) or find_family(module) is None:
        return
    hooks = module._load_state_dict_pre_hooks.values()
    if not any(getattr(hook, 'hook', None) is refuse_partial_blocks for hook in hooks):
        register_load_state_dict_pre_hook(module, refuse_partial_blocks)  # torch < 2.5: compat


def install_load_guard() -> None:
    """Guard every family backbone registered from now on (idempotent; ``import mmsls`` calls it)."""
    if not _installed:
        _installed.append(
            torch.nn.modules.module.register_module_module_registration_hook(_guard_family_backbone))
