"""The one loader of a trained model: config + checkpoint -> the model that was saved, or an error.

Every mmsls tool loads through :func:`init_model`. Beyond what OpenMMLab's own ``init_model`` does
(build in the config's scope, load, attach ``cfg`` and ``dataset_meta``, eval mode), it re-applies a
recorded depth structure before the weights load, loads only through torch's safe loading, and
refuses a checkpoint whose structure does not fit the model instead of leaving random blocks in it.
"""
import copy
import re
from os import PathLike
from typing import Mapping, Optional, Union

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from mmsls.checkpoint import allow_mmengine_checkpoints, safe_torch_load
from mmsls.depth import (DEPTH_RECORD_KEY, apply_depth_structure, backbone_state_prefix,
                         find_backbone, has_prunable_backbone)
from mmsls.hooks.progressive_depth import PROGRESSIVE_RECORD_KEY

ConfigType = Union[str, PathLike, Config, dict]


def init_model(config: ConfigType,
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None,
               strict: bool = True) -> nn.Module:
    """Build the model of a config and load a trained checkpoint into it.

    The config's ``default_scope`` becomes the current scope (as ``mmpretrain.apis.init_model`` and
    ``mmdet.apis.init_detector`` do), so datasets and transforms built afterwards resolve alike. A
    top-level ``data_preprocessor`` joins the model, as the Runner does. No weights are initialised
    from ``init_cfg``: every weight comes from the checkpoint.

    A checkpoint of a pruned model (SLS, UPDP) loads with the config it was trained with: its depth
    record (``meta['mmsls_depth']``) prunes the model before the weights load. A mismatch is refused
    with an error that names the fix: a record made on another structure, a state dict that does not
    hold exactly the record's units, or (no record) weights for layers the model lacks or for only
    some of its layers, as a pruned checkpoint stripped of its record has.

    Args:
        config (str | PathLike | Config | dict): The config, or its path. Not modified.
        checkpoint (str, optional): A checkpoint path or URL (any scheme MMEngine loads), read
            through torch's safe loading with mmsls's allow-list. Defaults to None: the model keeps
            its freshly built weights.
        device (str | torch.device): Where the model goes. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config, as ``--cfg-options``.
        strict (bool): Refuse missing or unexpected keys (named in the error). Defaults to True;
            False loads what matches. The structure checks above apply either way.

    Returns:
        nn.Module: The model in eval mode on ``device``, with ``cfg`` (the config used) and, when
        the checkpoint's meta has it, ``dataset_meta``.
    """
    cfg = _as_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    # SyncBN needs a process group; inference on one device does not (as mmdet and mmseg do).
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    if checkpoint is not None:
        meta = load_trained_weights(model, checkpoint, strict=strict)
        if 'dataset_meta' in meta:
            model.dataset_meta = copy.deepcopy(meta['dataset_meta'])
        elif 'CLASSES' in meta:  # checkpoints of OpenMMLab 1.x
            model.dataset_meta = dict(classes=meta['CLASSES'])
    model.cfg = cfg
    model.to(device)
    model.eval()  # not chained: some backbones' train() returns None
    return model


def load_trained_weights(model: nn.Module, checkpoint: str, strict: bool = True) -> dict:
    """Load a checkpoint into a model built from its (unpruned) config, with :func:`init_model`'s
    structure checks; return the checkpoint's ``meta`` (an empty dict when it has none).

    Args:
        model (nn.Module): The model, as built from the config; pruned here if the checkpoint
            records a depth structure.
        checkpoint (str): A checkpoint path or URL.
        strict (bool): Refuse missing or unexpected keys. Defaults to True.
    """
    loaded = read_checkpoint(checkpoint)
    meta = loaded.get('meta') or {}
    if not isinstance(meta, Mapping):
        raise ValueError(f'{checkpoint}: the checkpoint\'s "meta" must be a dict, got '
                         f'{type(meta).__name__}; the file is not a checkpoint MMEngine saved')
    state_dict = loaded['state_dict'] if 'state_dict' in loaded else loaded
    # As MMEngine's loader does: DDP saves keys with a leading "module.".
    state_dict = {re.sub(r'^module\.', '', key): value for key, value in state_dict.items()}
    _refuse_mid_fade(meta, checkpoint)
    record = meta.get(DEPTH_RECORD_KEY)
    if record is not None:
        try:
            apply_depth_structure(model, record, state_dict)
        except ValueError as error:
            raise ValueError(f'{checkpoint}: {error}') from None
    elif has_prunable_backbone(model):
        _refuse_unrecorded_structure(model, state_dict, checkpoint)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if strict and (missing or unexpected):
        raise ValueError(
            f'{checkpoint} does not fit the model of the config: '
            + '; '.join(f'{len(keys)} {kind} keys, e.g. {", ".join(keys[:3])}'
                        for kind, keys in (('missing', missing), ('unexpected', unexpected)) if keys)
            + '. Pass the config the checkpoint was trained with, or load with strict=False '
            '(tools: --non-strict) to keep only the matching weights')
    return dict(meta)


def read_checkpoint(checkpoint: str) -> dict:
    """The checkpoint's content, read with ``weights_only=True`` and MMEngine's allow-listed types.

    Local files are read here; other sources (``https://``, ``open-mmlab://``, ...) go through
    MMEngine's ``CheckpointLoader``, whose loaders mmsls replaces with safe ones
    (:mod:`mmsls.checkpoint`). A missing, empty or corrupt file is named as such.
    """
    allow_mmengine_checkpoints()
    checkpoint = str(checkpoint)
    if re.match(r'^[a-zA-Z][\w+.-]*://', checkpoint):
        loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu', logger='silent')
    else:
        loaded = safe_torch_load(checkpoint, map_location='cpu')
    if not isinstance(loaded, Mapping):
        raise ValueError(f'{checkpoint} holds a {type(loaded).__name__}, not a checkpoint (a dict '
                         'with "state_dict", or a state dict)')
    return loaded


def _refuse_mid_fade(meta: Mapping, checkpoint: str) -> None:
    """A checkpoint saved while ProgressiveDepthHook was fading blocks out is another function."""
    record = meta.get(PROGRESSIVE_RECORD_KEY)
    if isinstance(record, Mapping) and not record.get('removed', True) and record.get('blend') != 0:
        raise ValueError(f'{checkpoint} was saved while blocks {record.get("blocks")} were being '
                         f'faded out (blend {record.get("blend")}); a model without the fade would '
                         'compute something else. Test it with its training config (tools/test.py '
                         'adds the ProgressiveDepthHook that re-applies the fade), or use a '
                         'checkpoint saved after the fade ended')


def _refuse_unrecorded_structure(model: nn.Module, state_dict: Mapping, checkpoint: str) -> None:
    """Without a depth record, the checkpoint's blocks must be the model's blocks.

    Refuses keys of blocks the model does not have (another depth, or a pruned model's original
    indices), and weights for only some of the model's blocks: a pruned checkpoint whose record was
    stripped would otherwise load with random blocks where the pruned ones were.
    """
    family, backbone = find_backbone(model)
    prefix = backbone_state_prefix(model)
    units = family.units(backbone)
    names = {unit.name for unit in units}
    containers = family.containers(backbone)
    stray = sorted({
        f'{container}.{match.group(1)}' for key in state_dict for container in containers
        for match in [re.match(re.escape(f'{prefix}{container}.') + r'([^.]+)\.', key)] if match
    } - names)
    advice = ('If it is a pruned checkpoint, its depth record (meta["mmsls_depth"]) is missing: '
              'use the checkpoint as the Runner saved it, or prune the model to the checkpoint\'s '
              'blocks (mmsls.prune_depth) before loading. Otherwise pass the config the checkpoint '
              'was trained with')
    if stray:
        raise ValueError(f'{checkpoint} holds weights of {len(stray)} blocks that this '
                         f'{family.name} does not have, e.g. {prefix}{stray[0]}. {advice}')
    present = [unit.name for unit in units
               if any(key.startswith(f'{prefix}{unit.name}.') for key in state_dict)]
    if present and len(present) < len(units):
        absent = [unit.name for unit in units if unit.name not in present]
        listed = ', '.join(absent[:4]) + (', ...' if len(absent) > 4 else '')
        raise ValueError(f'{checkpoint} has no weights for {len(absent)} of the model\'s '
                         f'{len(units)} blocks ({listed}) but has them for the others: it looks '
                         f'like a pruned checkpoint without its structure record. {advice}')


def _as_config(config: ConfigType) -> Config:
    """A private copy of ``config`` as a Config."""
    if isinstance(config, (str, PathLike)):
        return Config.fromfile(config)
    if isinstance(config, Config):
        return copy.deepcopy(config)
    if isinstance(config, dict):
        return Config(copy.deepcopy(config))
    raise TypeError(f'config must be a path, a Config or a dict, got {type(config).__name__}')
