"""Fold the RepAdapters of a trained model into its backbone, for deployment.

    python tools/merge_adapters.py CONFIG CHECKPOINT OUT [--cfg-options KEY=VALUE ...] [--force]

CONFIG is a config whose ``model.backbone`` is an ``mmsls.AdaptedBackbone`` with RepAdapter, and
CHECKPOINT a checkpoint of that model (e.g. ``work_dirs/.../iter_N.pth``). Writes:

- ``OUT/merged.pth``: the model's weights with every adapter folded into the projection after it;
  its keys are exactly those of the plain model.
- ``OUT/merged_config.py``: CONFIG with the inner, plain backbone in place of the wrapper and
  ``load_from`` set to ``merged.pth``. The tool checks that the weights load strictly into it.

The checkpoint loads through :func:`mmsls.apis.init_model`: a pruned checkpoint (SLS, UPDP) merges
too, its recorded structure applied before its weights load. ``merged.pth``'s meta keeps the depth
record (so ``tools/test.py`` re-applies it) and the ``dataset_meta``.
"""
import argparse
import copy
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction

from mmsls.adapters import merge_adapters
from mmsls.apis import init_model
from mmsls.fileio import atomic_write, check_not_an_input
from mmsls.depth import (DEPTH_RECORD_KEY, apply_depth_structure, depth_structure,
                         has_prunable_backbone, is_depth_pruned)

WRAPPER_TYPES = ('mmsls.AdaptedBackbone', 'AdaptedBackbone')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Merge the RepAdapters of a trained model into a plain, deployable model')
    parser.add_argument('config', help='config of the adapted model')
    parser.add_argument('checkpoint', help='checkpoint of the adapted model')
    parser.add_argument('out', help='directory for merged.pth and merged_config.py')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as in tools/train.py')
    parser.add_argument('--force', action='store_true',
                        help='let merged.pth or merged_config.py replace the config or checkpoint')
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
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    weights = osp.abspath(osp.join(args.out, 'merged.pth'))
    config_out = osp.join(args.out, 'merged_config.py')
    for out in (weights, config_out):
        check_not_an_input(out, [args.config, args.checkpoint], args.force)
    merged_cfg = plain_config(cfg, weights)

    model = init_model(cfg, args.checkpoint)  # strict, pruned to the recorded structure
    record = depth_structure(model) if has_prunable_backbone(model) and is_depth_pruned(model) \
        else None
    num_merged = merge_adapters(model, strict=True)
    if num_merged == 0:
        raise ValueError(f'{args.checkpoint} holds no RepAdapter to merge.')
    state_dict = model.state_dict()

    plain = init_model(merged_cfg)
    if record is not None:
        apply_depth_structure(plain, record, state_dict)
    plain.load_state_dict(state_dict, strict=True)

    meta = dict(merged_adapters=num_merged, merged_from=args.checkpoint)
    if record is not None:
        meta[DEPTH_RECORD_KEY] = record
    if hasattr(model, 'dataset_meta'):
        meta['dataset_meta'] = model.dataset_meta
    os.makedirs(args.out, exist_ok=True)
    with atomic_write(weights) as path:
        torch.save(dict(meta=meta, state_dict=state_dict), path)
    with atomic_write(config_out) as path:
        merged_cfg.dump(path)
    print(f'Merged {num_merged} RepAdapters: {weights} loads strictly into '
          f'{config_out}')


if __name__ == '__main__':
    main()
