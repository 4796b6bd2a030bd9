"""Deployment: a trained model (pruned, with adapters) as a plain config and checkpoint of its library.

:func:`deploy_model` loads the checkpoint with :func:`init_model` (the recorded structure applied),
folds every RepAdapter into the backbone, writes the pruned structure in the backbone's own config
terms (the family's :meth:`~mmsls.families.BackboneFamily.plain_backbone_config`) and renames the
kept blocks' weights to the plain numbering (``layers.0, layers.5`` -> ``layers.0, layers.1``). The
result builds and loads with mmpretrain's, mmdet's and mmseg's own APIs and tools, without mmsls.

Where a plain config cannot describe the model (a Convpass cannot be folded; a Swin whose kept
blocks would change window-shift parity; a pruned ResNet), the result is the *mmsls config*
instead: the model as trained (RepAdapters still merged where that is all), its weights under the
original block names with the depth record, ``custom_imports`` of mmsls and a
``DepthStructureHook``, so the libraries' own tools load it where mmsls is installed.
"""
import copy
import os
import os.path as osp
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

import torch
from mmengine.config import Config
from torch import nn

from mmsls.adapters import merge_adapters, named_adapters
from mmsls.depth import (DEPTH_RECORD_KEY, apply_depth_structure, backbone_state_prefix,
                         depth_structure, find_backbone, is_depth_pruned)
from mmsls.families import BackboneFamily
from mmsls.families.base import PlainConfigError
from mmsls.families.merging import MergedBlock
from mmsls.fileio import atomic_write
from mmsls.registry import DATASETS, HOOKS, MODELS, TRANSFORMS
from mmsls.reporting import model_cost, probe_input_hw
from .model import ConfigType, _as_config, init_model

WRAPPER_TYPES = ('mmsls.AdaptedBackbone', 'AdaptedBackbone')
DEPTH_STRUCTURE_HOOK = 'mmsls.DepthStructureHook'


@dataclass
class Deployment:
    """What :func:`deploy_model` produces.

    Attributes:
        cfg (Config): The config to write.
        state_dict (dict): The weights, with the keys of the model ``cfg`` builds.
        meta (dict): The checkpoint meta (``dataset_meta``; the depth record for an mmsls config).
        plain (bool): Whether ``cfg`` names no mmsls type (it loads without mmsls).
        notes (list[str]): Why the model or the config still needs mmsls, if it does.
        merged_adapters (int): RepAdapters folded into the backbone.
        max_abs_diff (float): Largest difference between the outputs of the model ``cfg`` and
            ``state_dict`` build and those of the loaded mmsls model, on a random input.
        cost_before (dict): Parameters and backbone FLOPs of the config's model (unpruned,
            adapters unmerged): see :func:`mmsls.reporting.model_cost`.
        cost_after (dict): The same for the deployed model.
    """
    cfg: Config
    state_dict: Dict[str, torch.Tensor]
    meta: dict
    plain: bool
    notes: List[str] = field(default_factory=list)
    merged_adapters: int = 0
    max_abs_diff: float = 0.0
    cost_before: Optional[dict] = None
    cost_after: Optional[dict] = None


def deploy_model(config: ConfigType, checkpoint: str, cfg_options: Optional[dict] = None,
                 verify_seed: int = 0) -> Deployment:
    """A trained checkpoint as a plain config and state dict (or the mmsls config; see the module).

    Args:
        config (str | PathLike | Config | dict): The config the checkpoint was trained with (the
            unpruned one). Not modified.
        checkpoint (str): The trained checkpoint, as the Runner saved it.
        cfg_options (dict, optional): Overrides merged into the config, as ``--cfg-options``.
        verify_seed (int): Seed of the random input the deployed model is checked on.

    Returns:
        Deployment: The config, weights and meta to write, and what was checked.
    """
    cfg = _as_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = init_model(cfg, checkpoint)
    family, backbone = find_backbone(model)
    input_hw = probe_input_hw(backbone)
    unpruned = init_model(cfg)
    cost_before = model_cost(unpruned, find_backbone(unpruned)[1], input_hw)
    del unpruned
    inputs = _random_images(input_hw, verify_seed)
    reference = tensor_outputs(model, inputs)
    record = depth_structure(model) if is_depth_pruned(model) else None

    notes = []
    adapters = [adapter for _, adapter in named_adapters(model)]
    unmergeable = sorted({type(adapter).__name__ for adapter in adapters if not adapter.mergeable})
    merged = 0
    if unmergeable:
        notes.append(f'{"/".join(unmergeable)} adapters cannot be folded into the backbone (they '
                     'are not linear): the model keeps mmsls.AdaptedBackbone')
    else:
        merged = merge_adapters(model, strict=True)
    plain_backbone = None
    # UPDP's merged blocks are mmsls modules: no plain config of the backbone's library builds them.
    merged_blocks = [unit.name for unit in family.units(backbone)
                     if isinstance(unit.module, MergedBlock)]
    if merged_blocks:
        notes.append(f'{", ".join(merged_blocks)} are merged blocks (UPDP), which no plain '
                     f'{family.name} config describes: the deployment keeps the mmsls config and '
                     'its depth record')
    elif not unmergeable:
        try:
            plain_backbone = family.plain_backbone_config(_family_backbone_cfg(cfg.model), backbone)
        except PlainConfigError as error:
            notes.append(str(error))

    prefix = backbone_state_prefix(model)
    state_dict = OrderedDict(model.state_dict())
    deployed_cfg = _deployable_runtime(cfg)
    meta = _plain_meta(model, checkpoint, merged)
    if plain_backbone is not None:
        _drop_weight_sources(plain_backbone)
        deployed_cfg.model.backbone = plain_backbone
        state_dict = renamed_units(state_dict, prefix, plain_unit_names(family, backbone))
        leftovers = sorted(set(mmsls_types(deployed_cfg.to_dict())))
        if leftovers:
            notes.append(f'the model is plain, but the config still names mmsls types outside '
                         f'the model ({", ".join(leftovers)}): it keeps custom_imports of mmsls; '
                         'replace them with the library\'s own to use the config without mmsls')
            _with_mmsls_imports(deployed_cfg)
        else:
            _without_mmsls_imports(deployed_cfg)
    else:
        if not unmergeable:  # every adapter folded: the inner backbone, pruned by the record
            deployed_cfg.model.backbone = _family_backbone_cfg(cfg.model)
        _drop_weight_sources(_family_backbone_cfg(deployed_cfg.model))
        _with_mmsls_imports(deployed_cfg)
        if record is not None:
            meta[DEPTH_RECORD_KEY] = record
            deployed_cfg.custom_hooks = list(deployed_cfg.get('custom_hooks', [])) + [
                dict(type=DEPTH_STRUCTURE_HOOK)]

    deployed = init_model(deployed_cfg)
    if plain_backbone is None and record is not None:
        apply_depth_structure(deployed, record, state_dict)
    deployed.load_state_dict(state_dict, strict=True)
    max_abs_diff = max((got - want).abs().max().item()
                       for got, want in zip(tensor_outputs(deployed, inputs), reference))
    cost_after = model_cost(deployed, find_backbone(deployed)[1], input_hw)
    return Deployment(cfg=deployed_cfg, state_dict=state_dict, meta=meta,
                      plain=not notes, notes=notes, merged_adapters=merged,
                      max_abs_diff=max_abs_diff, cost_before=cost_before, cost_after=cost_after)


def save_deployment(result: Deployment, out_dir: str) -> Tuple[str, str]:
    """Write ``OUT_DIR/config.py`` and ``OUT_DIR/model.pth`` (each atomically); return their paths.

    The caller checks first that they are none of its inputs (:func:`mmsls.fileio.check_not_an_input`).
    """
    config_out, weights_out = osp.join(out_dir, 'config.py'), osp.join(out_dir, 'model.pth')
    os.makedirs(out_dir, exist_ok=True)
    with atomic_write(weights_out) as path:
        torch.save(dict(meta=result.meta, state_dict=result.state_dict), path)
    with atomic_write(config_out) as path:
        result.cfg.dump(path)
    return config_out, weights_out


def plain_unit_names(family: BackboneFamily, backbone: nn.Module) -> Dict[str, str]:
    """Kept block names -> their names in the plain backbone (numbered ``0, 1, ...`` per list)."""
    return {f'{path}.{index}': f'{path}.{position}'
            for path, kept in family.kept_indices(backbone).items()
            for position, index in enumerate(kept)}


def renamed_units(state_dict: Mapping[str, torch.Tensor], prefix: str,
                  names: Mapping[str, str]) -> Dict[str, torch.Tensor]:
    """``state_dict`` with the blocks under ``prefix`` renamed by ``names`` (order kept)."""
    pattern = re.compile('^' + re.escape(prefix) + '(' + '|'.join(
        re.escape(name) for name in sorted(names, key=len, reverse=True)) + r')\.')
    return OrderedDict(
        (pattern.sub(lambda match: f'{prefix}{names[match.group(1)]}.', key, count=1), value)
        for key, value in state_dict.items())


def tensor_outputs(model: nn.Module, inputs: torch.Tensor) -> List[torch.Tensor]:
    """Every tensor of ``model(inputs, mode='tensor')``, flattened in order, without gradients."""
    with torch.no_grad():
        return list(flatten_tensors(model(inputs, mode='tensor')))


def flatten_tensors(outputs) -> Iterator[torch.Tensor]:
    """The tensors of nested tuples/lists/dicts, depth first, in order."""
    if isinstance(outputs, torch.Tensor):
        yield outputs
    elif isinstance(outputs, Mapping):
        for value in outputs.values():
            yield from flatten_tensors(value)
    else:
        for value in outputs:
            yield from flatten_tensors(value)


def mmsls_types(node) -> Iterator[str]:
    """The ``type`` values in a config dict that name mmsls classes (``mmsls.X`` or registered by
    mmsls under a plain name)."""
    registered = {name for registry in (MODELS, HOOKS, DATASETS, TRANSFORMS)
                  for name in registry.module_dict}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            kind = item.get('type')
            if isinstance(kind, str) and (kind.startswith('mmsls.') or kind in registered):
                yield kind
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def _random_images(input_hw, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, *input_hw, generator=generator)


def _family_backbone_cfg(model_cfg: Mapping) -> dict:
    """The config of the family backbone: ``model.backbone``, or the one an AdaptedBackbone wraps."""
    backbone = model_cfg['backbone']
    return backbone['backbone'] if backbone.get('type') in WRAPPER_TYPES else backbone


def _drop_weight_sources(backbone_cfg: dict) -> None:
    """Every weight comes from the deployed checkpoint: no pre-trained file to initialise from."""
    backbone_cfg.pop('init_cfg', None)
    backbone_cfg.pop('pretrained', None)


def _deployable_runtime(cfg: Config) -> Config:
    """A copy of ``cfg`` for inference: no checkpoint to load or resume, no mmsls hooks (the
    pruning is done), no model-level pre-trained path."""
    deployed = copy.deepcopy(cfg)
    deployed.load_from, deployed.resume = None, False
    if deployed.model.get('pretrained') is not None:
        deployed.model.pretrained = None
    hooks = [hook for hook in deployed.get('custom_hooks', []) or []
             if not list(mmsls_types(hook))]
    if hooks:
        deployed.custom_hooks = hooks
    elif 'custom_hooks' in deployed:
        deployed.pop('custom_hooks')
    return deployed


def _is_mmsls_import(name: str) -> bool:
    return name == 'mmsls' or name.startswith('mmsls.')


def _without_mmsls_imports(cfg: Config) -> None:
    imports = cfg.get('custom_imports')
    if not imports:
        return
    kept = [name for name in imports.get('imports', []) if not _is_mmsls_import(name)]
    if kept:
        cfg.custom_imports = dict(imports, imports=kept)
    else:
        cfg.pop('custom_imports')


def _with_mmsls_imports(cfg: Config) -> None:
    imports = cfg.get('custom_imports') or dict(imports=[], allow_failed_imports=False)
    names = list(imports.get('imports', []))
    if not any(_is_mmsls_import(name) for name in names):
        names.append('mmsls')
    cfg.custom_imports = dict(imports, imports=names)


def _plain_meta(model: nn.Module, checkpoint: str, merged: int) -> dict:
    """Meta that upstream safe loading reads: builtin types only."""
    meta = dict(mmsls_deploy=dict(source=str(checkpoint), merged_adapters=merged))
    if getattr(model, 'dataset_meta', None) is not None:
        meta['dataset_meta'] = _builtin(model.dataset_meta)
    return meta


def _builtin(value):
    """``value`` with ConfigDicts and the like turned into dicts, lists and tuples."""
    if isinstance(value, Mapping):
        return {key: _builtin(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_builtin(item) for item in value)
    return value
