"""Tiny real models and training sets of the three scopes, built in-process from tiny configs."""
import copy

import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS, init_default_scope

from ..conftest import TINY_CONFIGS


def tiny_model_and_dataset(scope: str, data_dir, adapted: bool = False, seed: int = 0):
    """The model (train mode, random weights) and training set of ``scope``'s tiny config.

    Args:
        scope (str): 'mmpretrain', 'mmdet' or 'mmseg'.
        data_dir: The ``tiny_data_dir`` fixture (holds ``data/...``).
        adapted (bool): Wrap the backbone in ``mmsls.AdaptedBackbone`` with RepAdapters.
        seed (int): Seed of the weights.
    """
    cfg = Config.fromfile(TINY_CONFIGS[scope])
    init_default_scope(cfg.default_scope)
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    if adapted:
        model_cfg.backbone = dict(type='mmsls.AdaptedBackbone', backbone=model_cfg.backbone,
                                  adapter=dict(type='RepAdapter', hidden_dims=8, scale=1.0))
    torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    model.init_weights()
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.data_root = str(data_dir / cfg.data_root)
    return model, DATASETS.build(dataset_cfg), cfg
