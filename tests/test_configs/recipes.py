"""The recipe configs, and the overrides that shrink each task's model and data to tiny CPU sizes.

The overrides are plain config dicts: :func:`shrink` merges them into a loaded recipe (to build its
model quickly), and :func:`write_tiny_config` writes a config file that inherits the recipe and adds
them (to run the recipe through the real tools on the tiny data sets).
"""
import copy
from pathlib import Path
from typing import Dict, List

from mmengine.config import Config

from ..conftest import REPO

CONFIGS = REPO / 'configs'

# The two stages of each dense recipe: PETL config -> its SLS configs (two alphas).
DENSE_RECIPES = {
    'coco/retinanet_swin-t_repadapter_fpn_1x_coco.py': [
        'coco/retinanet_swin-t_repadapter_sls-alpha0.5_fpn_1x_coco.py',
        'coco/retinanet_swin-t_repadapter_sls-alpha0.3_fpn_1x_coco.py'],
    'coco/retinanet_swin-t_convpass_fpn_1x_coco.py': [
        'coco/retinanet_swin-t_convpass_sls-alpha0.5_fpn_1x_coco.py',
        'coco/retinanet_swin-t_convpass_sls-alpha0.3_fpn_1x_coco.py'],
    'ade20k/setr_vit-l_repadapter_pup_8xb2-160k_ade20k-512x512.py': [
        'ade20k/setr_vit-l_repadapter_sls-alpha0.5_pup_8xb2-160k_ade20k-512x512.py',
        'ade20k/setr_vit-l_repadapter_sls-alpha0.3_pup_8xb2-160k_ade20k-512x512.py'],
}


def task_of(config_path) -> str:
    """'vtab', 'coco' or 'ade20k': the folder of a recipe config."""
    return Path(config_path).parent.name if Path(config_path).parent.name in (
        'coco', 'ade20k') else 'vtab'


def vtab_configs() -> List[Path]:
    """Every config in the per-adapter folders of configs/vtab/."""
    return sorted(path for adapter in ('repadapter', 'convpass')
                  for path in (CONFIGS / 'vtab' / adapter).glob('*.py'))


def _loader(dataset: dict, batch_size: int) -> dict:
    return dict(batch_size=batch_size, num_workers=0, persistent_workers=False, dataset=dataset)


def _vtab(data_root: str) -> Dict[str, object]:
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=(32, 32), interpolation='bicubic', backend='pillow'),
                dict(type='PackInputs')]
    dataset = dict(data_root=data_root, pipeline=pipeline)
    return dict(
        model=dict(
            backbone=dict(backbone=dict(
                arch=dict(_delete_=True, embed_dims=64, num_layers=4, num_heads=4,
                          feedforward_channels=128),
                img_size=32, patch_size=8, init_cfg=None)),
            head=dict(in_channels=64)),
        train_dataloader=_loader(dataset, 8),
        val_dataloader=_loader(dataset, 8),
        test_dataloader=_loader(dataset, 8),
        # Enough training for the tiny model's top layers to separate the classes.
        train_cfg=dict(max_epochs=10, val_interval=10),
        param_scheduler=[
            dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,
                 convert_to_iter_based=True),
            dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=10,
                 convert_to_iter_based=True)],
        default_hooks=dict(logger=dict(interval=1)),
    )


def _coco(data_root: str) -> Dict[str, object]:
    classes = ('object_0', 'object_1', 'object_2')
    size = (64, 64)
    train_pipeline = [dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', with_bbox=True),
                      dict(type='Resize', scale=size, keep_ratio=True),
                      dict(type='PackDetInputs')]
    test_pipeline = [dict(type='LoadImageFromFile'),
                     dict(type='Resize', scale=size, keep_ratio=True),
                     dict(type='LoadAnnotations', with_bbox=True),
                     dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                                           'img_shape', 'scale_factor'))]
    val_dataset = dict(data_root=data_root, metainfo=dict(classes=classes),
                       ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                       pipeline=test_pipeline)
    evaluator = dict(ann_file=f'{data_root}/annotations/instances_val.json')
    return dict(
        model=dict(
            backbone=dict(backbone=dict(
                embed_dims=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8), window_size=4,
                drop_path_rate=0.0, convert_weights=False, init_cfg=None)),
            neck=dict(in_channels=[64, 128, 256], out_channels=32),
            bbox_head=dict(num_classes=len(classes), in_channels=32, feat_channels=32,
                           stacked_convs=1),
            # A few iterations leave every score under the usual 0.05: keep all detections, so
            # that CocoMetric has predictions to score.
            test_cfg=dict(score_thr=0.0)),
        train_dataloader=_loader(dict(
            data_root=data_root, metainfo=dict(classes=classes),
            ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=4), pipeline=train_pipeline), 4),
        val_dataloader=_loader(val_dataset, 2),
        test_dataloader=_loader(val_dataset, 2),
        val_evaluator=evaluator,
        test_evaluator=evaluator,
        train_cfg=dict(max_epochs=1, val_interval=1),
        default_hooks=dict(logger=dict(interval=1)),
        randomness=dict(seed=0),
    )


def _ade20k(data_root: str) -> Dict[str, object]:
    classes = ('wall', 'building', 'sky', 'floor')
    crop = (64, 64)
    norm_cfg = dict(type='BN', requires_grad=True)

    def head(in_index, num_convs, up_scale, loss_weight):
        return dict(type='SETRUPHead', in_channels=64, channels=32, in_index=in_index,
                    num_classes=len(classes), dropout_ratio=0, norm_cfg=norm_cfg,
                    num_convs=num_convs, up_scale=up_scale, kernel_size=3, align_corners=False,
                    loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                     loss_weight=loss_weight))

    train_pipeline = [dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations', reduce_zero_label=True),
                      dict(type='RandomFlip', prob=0.5),
                      dict(type='PackSegInputs')]
    test_pipeline = [dict(type='LoadImageFromFile'),
                     dict(type='LoadAnnotations', reduce_zero_label=True),
                     dict(type='PackSegInputs')]

    def dataset(split, pipeline):
        return dict(data_root=data_root, metainfo=dict(classes=classes), pipeline=pipeline,
                    data_prefix=dict(img_path=f'images/{split}',
                                     seg_map_path=f'annotations/{split}'))

    return dict(
        model=dict(
            data_preprocessor=dict(size=crop),
            backbone=dict(backbone=dict(
                img_size=crop, patch_size=8, embed_dims=64, num_layers=6, num_heads=4,
                out_indices=(1, 2, 4, 5), init_cfg=None)),
            decode_head=dict(_delete_=True, **head(3, num_convs=3, up_scale=2, loss_weight=1.0)),
            auxiliary_head=[head(i, num_convs=1, up_scale=8, loss_weight=0.4) for i in range(3)],
            test_cfg=dict(mode='slide', crop_size=crop, stride=(43, 43))),
        train_dataloader=dict(_loader(dataset('training', train_pipeline), 4),
                              sampler=dict(type='InfiniteSampler', shuffle=True)),
        val_dataloader=_loader(dataset('validation', test_pipeline), 1),
        test_dataloader=_loader(dataset('validation', test_pipeline), 1),
        train_cfg=dict(max_iters=2, val_interval=2),
        default_hooks=dict(logger=dict(interval=1)),
        randomness=dict(seed=0),
    )


_SHRINKERS = {'vtab': _vtab, 'coco': _coco, 'ade20k': _ade20k}


def overrides(task: str, data_root: str = 'data/tiny') -> Dict[str, object]:
    """The overrides that shrink a recipe of ``task`` onto tiny data at ``data_root``."""
    return _SHRINKERS[task](data_root)


def shrink(cfg: Config, task: str, data_root: str = 'data/tiny') -> Config:
    """``cfg`` with the tiny overrides of ``task`` merged in (``cfg`` itself is left as it was)."""
    cfg = copy.deepcopy(cfg)
    cfg.merge_from_dict(overrides(task, data_root))
    return cfg


# The SLS hook's sample pipeline of the dense recipes, at the tiny image size.
_TINY_SLS_PIPELINES = {
    'coco': [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
             dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')],
    'ade20k': [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', reduce_zero_label=True),
               dict(type='PackSegInputs')],
}


def write_tiny_config(recipe: Path, path: Path, data_root: str) -> Path:
    """Write a config at ``path`` that inherits ``recipe`` and adds the tiny overrides of its task.

    An SLS stage keeps its recipe's hook settings (alpha, N, backend) but analyses in this process
    (the 'fast' backend: one worker, tiny samples) and, for dense tasks, loads its sample at the
    tiny image size.

    Args:
        recipe (Path): The recipe config to inherit.
        path (Path): Where to write the tiny config.
        data_root (str): The tiny data set of the recipe's task.
    """
    task = task_of(recipe)
    lines = [f'_base_ = [{str(recipe)!r}]']
    lines += [f'{key} = {value!r}' for key, value in overrides(task, data_root).items()]
    hooks = Config.fromfile(recipe).get('custom_hooks')
    if hooks:
        hook = dict(criterion_options=dict(num_workers=1)) if hooks[0].get('backend') == 'fast' else {}
        if task in _TINY_SLS_PIPELINES:
            hook['pipeline'] = _TINY_SLS_PIPELINES[task]
        options = ''.join(f', {key}={value!r}' for key, value in hook.items())
        lines.append(f'custom_hooks = [dict(_base_.custom_hooks[0]{options})]')
    path.write_text('\n'.join(lines) + '\n')
    return path
