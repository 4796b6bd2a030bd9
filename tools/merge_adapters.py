"""Fold the RepAdapters of a trained model into its backbone, for deployment.

    python tools/merge_adapters.py CONFIG CHECKPOINT OUT

CONFIG is a config whose ``model.backbone`` is an ``mmsls.AdaptedBackbone`` with RepAdapter, and
CHECKPOINT a checkpoint of that model (e.g. ``work_dirs/.../iter_N.pth``). Writes:

- ``OUT/merged.pth``: the model's weights with every adapter folded into the projection after it;
  its keys are exactly those of the plain model.
- ``OUT/merged_config.py``: CONFIG with the inner, plain backbone in place of the wrapper and
  ``load_from`` set to ``merged.pth``. The tool checks that the weights load strictly into it.

A pruned checkpoint (SLS, UPDP) merges too: its recorded structure is applied to the model before its
weights load, and ``merged.pth`` keeps the record, so ``tools/test.py`` re-applies it.
"""
import argparse
import copy
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint

import mmsls  # noqa: F401  (registers mmsls and allow-lists MMEngine's checkpoint types)
from mmsls.adapters import merge_adapters
from mmsls.depth import DEPTH_RECORD_KEY, apply_depth_structure

WRAPPER_TYPES = ('mmsls.AdaptedBackbone', 'AdaptedBackbone')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Merge the RepAdapters of a trained model into a plain, deployable model')
    parser.add_argument('config', help='config of the adapted model')
    parser.add_argument('checkpoint', help='checkpoint of the adapted model')
    parser.add_argument('out', help='directory for merged.pth and merged_config.py')
    return parser.parse_args(argv)


def plain_config(cfg: Config, weights: str) -> Config:
    """A copy of ``cfg`` with the wrapper's inner backbone as model.backbone, loading ``weights``.

    The inner backbone's ``init_cfg`` (e.g. the pre-trained checkpoint) is dropped: every weight
    comes from ``weights`` through ``load_from``.
    """
    backbone = cfg.model.get('backbone')
    backbone_type = backbone.get('type') if isinstance(backbone, dict) else backbone
    if backbone_type not in WRAPPER_TYPES:
        raise ValueError(f'model.backbone has type {backbone_type!r}, not mmsls.AdaptedBackbone: '
                         'give the config the adapted model was trained with.')
    merged = copy.deepcopy(cfg)
    inner = merged.model.backbone.backbone
    inner.pop('init_cfg', None)
    merged.model.backbone = inner
    merged.load_from = weights
    return merged


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    os.makedirs(args.out, exist_ok=True)
    weights = osp.abspath(osp.join(args.out, 'merged.pth'))
    merged_cfg = plain_config(cfg, weights)

    checkpoint = _load_checkpoint(args.checkpoint, map_location='cpu')
    weights_in = checkpoint.get('state_dict', checkpoint)
    record = checkpoint.get('meta', {}).get(DEPTH_RECORD_KEY)
    model = MODELS.build(cfg.model)
    if record is not None:
        apply_depth_structure(model, record, weights_in)
    model.load_state_dict(weights_in, strict=True)
    num_merged = merge_adapters(model, strict=True)
    if num_merged == 0:
        raise ValueError(f'{args.checkpoint} holds no RepAdapter to merge.')
    state_dict = model.state_dict()

    plain = MODELS.build(merged_cfg.model)
    if record is not None:
        apply_depth_structure(plain, record, state_dict)
    plain.load_state_dict(state_dict, strict=True)

    meta = dict(checkpoint.get('meta', {}), merged_adapters=num_merged, merged_from=args.checkpoint)
    torch.save(dict(meta=meta, state_dict=state_dict), weights)
    merged_cfg.dump(osp.join(args.out, 'merged_config.py'))
    print(f'Merged {num_merged} RepAdapters: {weights} loads strictly into '
          f"{osp.join(args.out, 'merged_config.py')}")


if __name__ == '__main__':
    main()
