"""The demo's configs build: model and data agree on the classes, and the SLS stages prune by the
paper's rule."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, MODELS, init_default_scope

from tests.conftest import REPO

CONFIGS = REPO / 'configs' / 'demo'


@pytest.mark.parametrize('name,task,num_classes,adapted', [
    ('vit_digits_pretrain', 'digit', 10, False),
    ('vit_repadapter_quadrant', 'quadrant', 4, True),
    ('vit_repadapter_quadrant_sls', 'quadrant', 4, True),
    ('vit_repadapter_parity', 'parity', 2, True),
    ('vit_repadapter_parity_sls', 'parity', 2, True),
])
def test_config_builds_a_model_for_its_dataset(name, task, num_classes, adapted):
    cfg = Config.fromfile(str(CONFIGS / f'{name}.py'))
    init_default_scope(cfg.default_scope)
    for loader in ('train_dataloader', 'test_dataloader'):
        dataset = DATASETS.build(cfg[loader].dataset)
        assert len(dataset.metainfo['classes']) == num_classes
        assert dataset.task == task
    assert cfg.train_dataloader.dataset.split == 'train'
    assert cfg.test_dataloader.dataset.split == 'test'
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == ('AdaptedBackbone' if adapted else 'VisionTransformer')
    item = dataset[0]
    data = model.data_preprocessor(dict(inputs=[item['inputs']],
                                        data_samples=[item['data_samples']]))
    model.eval()
    with torch.no_grad():
        assert model(data['inputs'], mode='tensor').shape == (1, num_classes)


@pytest.mark.parametrize('name', ['vit_repadapter_quadrant_sls', 'vit_repadapter_parity_sls'])
def test_sls_stage_uses_the_paper_rule_on_unaugmented_training_images(name):
    cfg = Config.fromfile(str(CONFIGS / f'{name}.py'))
    (hook, ) = cfg.custom_hooks
    assert hook.type == 'mmsls.SLSHook' and hook.alpha == 0.3 and not hook.get('dry_run', False)
    assert hook.pipeline == cfg.test_pipeline  # no random crop in the SLS sample
    assert cfg.load_from  # starts from the PETL stage
