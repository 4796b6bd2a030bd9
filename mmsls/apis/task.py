"""Per-task files on top of one shared frozen backbone: what a pruned task stores, and how it loads.

A task file holds the depth record, every weight that the shared pre-trained backbone checkpoint does
not provide (adapters of the kept units, neck, heads, and backbone weights changed by training such as
tuned biases), the names of the weights that come from the backbone checkpoint, and the sha256
fingerprint of that checkpoint. Loading it rebuilds the model from its config, initialises the backbone
from the fingerprinted checkpoint, prunes, and loads the task weights: the outputs are those of the
pruned model the task file was exported from.
"""
import copy
import hashlib
from typing import Dict, Mapping, Optional

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from torch import nn

from mmsls.fileio import atomic_write, check_not_an_input
from mmsls.depth import (apply_depth_structure, backbone_state_prefix, depth_structure,
                         has_prunable_backbone, is_depth_pruned)
from .model import init_model

#: Identifies the layout of a task file.
TASK_FILE_FORMAT = 'mmsls-task/1'


def file_sha256(path: str) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for chunk in iter(lambda: file.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def export_task(cfg: Config, checkpoint: str, out: str,
                backbone_checkpoint: Optional[str] = None, force: bool = False) -> Dict[str, int]:
    """Write the task file of a trained (possibly pruned) checkpoint.

    Args:
        cfg (Config): The config the checkpoint was trained with (the unpruned one).
        checkpoint (str): The trained checkpoint, as the Runner saved it.
        out (str): Where to write the task file (``.pth``).
        backbone_checkpoint (str, optional): The shared pre-trained backbone checkpoint. Defaults to the
            one the config's backbone initialises from.
        force (bool): Write ``out`` even if it is the checkpoint or the backbone checkpoint (refused
            by default). Either way ``out`` is written to a temporary file renamed into place.

    Returns:
        dict: Parameter counts: ``stored`` (in the task file), ``model`` (the pruned model) and
        ``unpruned`` (the model before pruning), and ``stored_buffer_values``.
    """
    backbone_checkpoint = backbone_checkpoint or _pretrained_path(cfg.model)
    check_not_an_input(out, [checkpoint, backbone_checkpoint], force)
    # The trained model, loaded strictly with its structure re-applied (mmsls's one loader).
    trained_model = init_model(cfg, checkpoint)
    trained = trained_model.state_dict()
    record = depth_structure(trained_model) if has_prunable_backbone(trained_model) \
        and is_depth_pruned(trained_model) else None
    del trained_model
    model = build_initialised_model(cfg, backbone_checkpoint)
    unpruned = _count_parameters(model.state_dict(keep_vars=True))
    if record is not None:
        apply_depth_structure(model, record)
    shared = model.state_dict(keep_vars=True)
    if set(shared) != set(trained):  # both come from cfg: only a config that builds randomly differs
        difference = sorted(set(shared) ^ set(trained))
        raise ValueError(f'the model built from the config has other weights ({difference[0]}) each '
                         'time it is built; export_task needs a config that builds one structure')
    prefix = backbone_state_prefix(model)
    shared_keys = {key for key, value in trained.items()
                   if key.startswith(prefix) and torch.equal(shared[key].detach(), value)}
    stored = {key: value for key, value in trained.items() if key not in shared_keys}
    counts = dict(stored=_count_parameters({key: shared[key] for key in stored}),
                  stored_buffer_values=sum(value.numel() for key, value in stored.items()
                                           if not isinstance(shared[key], nn.Parameter)),
                  model=_count_parameters(shared), unpruned=unpruned)
    with atomic_write(out) as path:
        torch.save(dict(format=TASK_FILE_FORMAT, depth=record, state_dict=stored,
                        shared_keys=sorted(shared_keys),
                        backbone_sha256=file_sha256(backbone_checkpoint), counts=counts), path)
    return counts


def load_task(cfg: Config, task_file: str, backbone_checkpoint: Optional[str] = None) -> nn.Module:
    """Build the model of a task from its config, the shared backbone checkpoint and its task file.

    Args:
        cfg (Config): The config the task was trained with (the unpruned one).
        task_file (str): A file written by :func:`export_task`.
        backbone_checkpoint (str, optional): The shared pre-trained backbone checkpoint. Defaults to the
            one the config's backbone initialises from. Refused unless its fingerprint is the one the
            task file expects.

    Returns:
        nn.Module: The pruned model with the task's weights.
    """
    task = torch.load(task_file, map_location='cpu', weights_only=True)
    if not isinstance(task, dict) or task.get('format') != TASK_FILE_FORMAT:
        raise ValueError(f'{task_file} is not an mmsls task file (format {TASK_FILE_FORMAT}); write one '
                         'with tools/export_task.py')
    backbone_checkpoint = backbone_checkpoint or _pretrained_path(cfg.model)
    fingerprint = file_sha256(backbone_checkpoint)
    if fingerprint != task['backbone_sha256']:
        raise ValueError(f'the backbone checkpoint {backbone_checkpoint} has sha256 {fingerprint}, but the '
                         f'task file {task_file} was exported on top of the one with sha256 '
                         f'{task["backbone_sha256"]}. Pass the backbone checkpoint the task was trained '
                         'with')
    model = build_initialised_model(cfg, backbone_checkpoint)
    if task['depth'] is not None:
        apply_depth_structure(model, task['depth'])
    state_dict = model.state_dict()
    expected = set(task['shared_keys']) | set(task['state_dict'])
    if expected != set(state_dict):
        wrong = sorted(expected ^ set(state_dict))
        raise ValueError(f'the task file {task_file} does not fit a model built from the config (e.g. '
                         f'{wrong[0]}); pass the config the task was trained with')
    # The shared weights are those the backbone checkpoint just initialised.
    state_dict.update(task['state_dict'])
    model.load_state_dict(state_dict, strict=True)
    return model


def build_initialised_model(cfg: Config, backbone_checkpoint: str) -> nn.Module:
    """The model of ``cfg`` with its backbone initialised from ``backbone_checkpoint``.

    Weights are initialised before any pruning: backbones such as mmdet's Swin only load a full
    pre-trained checkpoint into a full model.
    """
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:  # as the Runner and init_model do
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    owner, key = _pretrained_slot(model_cfg, create=True)
    owner[key] = backbone_checkpoint
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.eval()
    return model


def _pretrained_slot(model_cfg: dict, create: bool = False):
    """``(dict, key)`` where the config names the backbone's pre-trained checkpoint.

    Looks at the model, its backbone, the backbone's inner backbone (``AdaptedBackbone``)... for a
    ``pretrained`` path or an ``init_cfg`` of type ``Pretrained``. With ``create``, a config without
    one gets a ``Pretrained`` init_cfg on its innermost backbone (for ``--backbone-checkpoint``).
    """
    node, innermost = model_cfg, None
    while isinstance(node, dict):
        innermost = node if node is not model_cfg else None
        if isinstance(node.get('pretrained'), str):
            return node, 'pretrained'
        init_cfgs = node.get('init_cfg')
        for init_cfg in init_cfgs if isinstance(init_cfgs, list) else [init_cfgs]:
            if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
                return init_cfg, 'checkpoint'
        node = node.get('backbone')
    if create and innermost is not None:
        innermost['init_cfg'] = dict(type='Pretrained', checkpoint=None)
        return innermost['init_cfg'], 'checkpoint'
    raise ValueError('the config names no pre-trained backbone checkpoint: pass '
                     '--backbone-checkpoint (backbone_checkpoint=...), or set the backbone\'s '
                     "init_cfg=dict(type='Pretrained', checkpoint=...) (or mmseg's model.pretrained)")


def _pretrained_path(model_cfg: dict) -> str:
    owner, key = _pretrained_slot(model_cfg)
    return owner[key]


def _count_parameters(tensors: Mapping[str, torch.Tensor]) -> int:
    """Elements of the parameters among ``tensors`` (a ``state_dict(keep_vars=True)``)."""
    return sum(value.numel() for value in tensors.values() if isinstance(value, nn.Parameter))
