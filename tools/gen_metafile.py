"""Write configs/metafile.yml (read by `mim search mmsls` through model-index.yml) from the configs.

One entry per recipe config under configs/{vtab,coco,ade20k,sls,adapters,updp} (not _base_ files),
its collection, training data and architecture read from the config's name. Run it after adding or
renaming a recipe config; ``--check`` only reports whether the file is up to date (the tests use it).

    python tools/gen_metafile.py [--check]
"""
import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
METAFILE = REPO / 'configs/metafile.yml'
RECIPE_DIRS = ('vtab', 'coco', 'ade20k', 'sls', 'adapters', 'updp')
# Config name prefix -> the architecture it builds; other names give their first '_' token as is.
ARCHITECTURES = {
    'vit-b16': ['ViT-B/16'],
    'swin-b': ['Swin-B'],
    'retinanet_swin-t': ['Swin-T', 'RetinaNet', 'FPN'],
    'setr_vit-l': ['ViT-L/16', 'SETR-PUP'],
    'deit-tiny': ['DeiT-Tiny'],
    'resnet34': ['ResNet-34'],
    'resnet50': ['ResNet-50'],
    'convnext-tiny': ['ConvNeXt-Tiny'],
    'mobilenet-v2': ['MobileNetV2'],
}
COLLECTIONS = [
    dict(Name='RepAdapter', Metadata=dict(Architecture=['RepAdapter']), README='docs/adapters.md',
         Paper='Towards Efficient Visual Adaption via Structural Re-parameterization'),
    dict(Name='Convpass', Metadata=dict(Architecture=['Convpass']), README='docs/adapters.md',
         Paper='Convolutional Bypasses Are Better Vision Transformer Adapters'),
    dict(Name='SLS', Metadata=dict(Architecture=['SLS']), README='docs/recipes.md',
         Paper='Straightforward Layer-wise Pruning for More Efficient Visual Adaptation'),
    dict(Name='UPDP', Metadata=dict(Architecture=['UPDP']), README='docs/updp.md',
         Paper='https://arxiv.org/abs/2401.06426'),
]
HEADER = """\
# Written by tools/gen_metafile.py from the configs' names: run it after adding a recipe config.
# The recipes of mmsls for `mim search mmsls` (model-index.yml imports this file). No trained
# weights are published: docs/recipes.md has the paper's numbers and the commands.
"""


def recipe_configs() -> list:
    return sorted(path.relative_to(REPO).as_posix()
                  for directory in RECIPE_DIRS for path in (REPO / 'configs' / directory).rglob('*.py')
                  if '_base_' not in path.parts and not path.name.startswith('_'))


def model_entry(config: str) -> dict:
    name = Path(config).stem
    prefix = next((p for p in sorted(ARCHITECTURES, key=len, reverse=True)
                   if name.startswith(p + '_')), name.split('_')[0])
    adapter = next((a for a in ('RepAdapter', 'Convpass') if a.lower() in name), None)
    updp = config.startswith('configs/updp/')
    collection = 'UPDP' if updp else 'SLS' if '_sls' in name else adapter
    if collection is None:
        raise ValueError(f'{config}: neither an adapter, SLS nor UPDP recipe by its name')
    if 'vtab1k-' in name:
        data, task = f"VTAB-1k {name.split('vtab1k-')[-1]}", 'Image Classification'
    elif 'coco' in name:
        data, task = 'COCO', 'Object Detection'
    elif 'ade20k' in name:
        data, task = 'ADE20K', 'Semantic Segmentation'
    else:
        data, task = 'ImageNet-1k', 'Image Classification'
    architecture = (ARCHITECTURES.get(prefix, [prefix]) + ([adapter] if adapter else [])
                    + (['SLS'] if '_sls' in name else []) + (['UPDP'] if updp else []))
    return {'Name': name, 'In Collection': collection, 'Config': config,
            'Metadata': {'Training Data': data, 'Architecture': architecture},
            'Results': [{'Task': task, 'Dataset': data}]}


def metafile_text() -> str:
    models = [model_entry(config) for config in recipe_configs()]
    return HEADER + yaml.safe_dump({'Collections': COLLECTIONS, 'Models': models},
                                   sort_keys=False, width=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='exit 1 if configs/metafile.yml is not what this script writes')
    args = parser.parse_args()
    try:
        text = metafile_text()
    except ValueError as error:
        sys.exit(str(error))
    if args.check:
        if not METAFILE.is_file() or METAFILE.read_text() != text:
            sys.exit(f'{METAFILE.relative_to(REPO)} is out of date with the configs: run '
                     'python tools/gen_metafile.py')
        print(f'{METAFILE.relative_to(REPO)} is up to date')
        return
    METAFILE.write_text(text)
    print(f'wrote {METAFILE.relative_to(REPO)}: {text.count("- Name:") - len(COLLECTIONS)} recipes')


if __name__ == '__main__':
    main()
