"""mmsls.apis.init_model: the one loader, on the tiny model of each OpenMMLab scope."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmsls.apis import init_model
from mmsls.depth import DEPTH_RECORD_KEY, depth_structure, prunable_units, prune_depth
from ..conftest import TINY_CONFIGS

# Per scope: the input side of the tiny config, and positions to keep when pruning (the Swin keeps
# the first block of every stage; SETR's ViT keeps enough layers for its four outputs).
SCOPES = {'mmpretrain': (32, [0, 2]), 'mmdet': (64, [0, 1, 2, 4]), 'mmseg': (64, [0, 1, 2, 3, 5])}


def randomise(model, seed=0):
    """Fresh random non-zero values for every parameter (heads start at zero)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model.eval()


def outputs(model, side):
    """Every output tensor of a forward in tensor mode, flattened into one list."""
    images = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1)) + 0.5
    with torch.no_grad():
        out = model(images, mode='tensor')
    flat, stack = [], [out]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            flat.append(item)
        else:
            stack.extend(reversed(list(item)))
    return flat


def save(model, path, **meta):
    torch.save(dict(meta=meta, state_dict=model.state_dict()), path)
    return path


@pytest.mark.parametrize('scope', sorted(SCOPES))
def test_builds_in_the_config_scope_and_loads_a_plain_checkpoint(scope, tmp_path):
    side, _ = SCOPES[scope]
    source = randomise(init_model(TINY_CONFIGS[scope]))
    assert DefaultScope.get_current_instance().scope_name == scope
    assert not source.training and isinstance(source.cfg, Config)
    classes = ('a', 'b', 'c')
    checkpoint = save(source, tmp_path / 'plain.pth', dataset_meta=dict(classes=classes))

    model = init_model(str(TINY_CONFIGS[scope]), str(checkpoint))
    assert not model.training and model.dataset_meta == dict(classes=classes)
    assert model.cfg.default_scope == scope
    assert all(param.device.type == 'cpu' for param in model.parameters())
    got, want = outputs(model, side), outputs(source, side)
    assert len(got) == len(want) > 0
    assert all(torch.equal(a, b) for a, b in zip(got, want))


@pytest.mark.parametrize('scope', sorted(SCOPES))
def test_pruned_checkpoint_loads_into_the_original_config(scope, tmp_path):
    side, keep = SCOPES[scope]
    pruned = randomise(init_model(TINY_CONFIGS[scope]), seed=3)
    prune_depth(pruned, keep)
    record = depth_structure(pruned)
    assert record['kept'] != record['units']
    checkpoint = save(pruned, tmp_path / 'pruned.pth', **{DEPTH_RECORD_KEY: record})

    model = init_model(TINY_CONFIGS[scope], checkpoint)
    assert [unit.name for unit in prunable_units(model)] == record['kept']
    got, want = outputs(model, side), outputs(pruned, side)
    assert len(got) == len(want) > 0
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert any(a.abs().max() > 0 for a in got)


def test_pruned_checkpoint_stripped_of_its_record_is_refused(tmp_path):
    pruned = randomise(init_model(TINY_CONFIGS['mmpretrain']))
    prune_depth(pruned, [0, 2])
    checkpoint = save(pruned, tmp_path / 'stripped.pth')  # weights of layers.0 and layers.2 only
    for strict in (True, False):  # non-strict would keep random layers.1 and layers.3
        with pytest.raises(ValueError, match=r'no weights for 2 of the model\'s 4 blocks '
                           r'\(layers.1, layers.3\).*pruned checkpoint without its structure '
                           r'record.*mmsls.prune_depth'):
            init_model(TINY_CONFIGS['mmpretrain'], checkpoint, strict=strict)


def test_weights_of_layers_the_model_lacks_are_refused(tmp_path):
    deeper = init_model(TINY_CONFIGS['mmpretrain'],
                        cfg_options={'model.backbone.arch.num_layers': 6})
    checkpoint = save(deeper, tmp_path / 'deeper.pth')
    with pytest.raises(ValueError, match=r'weights of 2 blocks that this .*does not have, e.g. '
                       r'backbone.layers.4.*config the checkpoint was trained with'):
        init_model(TINY_CONFIGS['mmpretrain'], checkpoint, strict=False)


def test_a_record_of_another_structure_is_refused(tmp_path):
    deeper = init_model(TINY_CONFIGS['mmpretrain'],
                        cfg_options={'model.backbone.arch.num_layers': 6})
    prune_depth(deeper, [0, 1, 2, 3])
    checkpoint = save(deeper, tmp_path / 'other.pth', **{DEPTH_RECORD_KEY: depth_structure(deeper)})
    with pytest.raises(ValueError, match=r'other.pth: the depth record was made on a backbone with '
                       r'units .*\(6 units\).*Build the model from the config the checkpoint was '
                       'trained with'):
        init_model(TINY_CONFIGS['mmpretrain'], checkpoint)


def test_weights_that_contradict_their_record_are_refused(tmp_path):
    model = init_model(TINY_CONFIGS['mmpretrain'])
    prune_depth(model, [0, 2])
    record = dict(depth_structure(model), kept=['layers.0', 'layers.1'])
    checkpoint = save(model, tmp_path / 'contradicting.pth', **{DEPTH_RECORD_KEY: record})
    with pytest.raises(ValueError, match='unit layers.1 is kept by the depth record, but the '
                       'checkpoint has no backbone.layers.1.'):
        init_model(TINY_CONFIGS['mmpretrain'], checkpoint)


def test_strict_by_default_names_the_keys(tmp_path):
    source = randomise(init_model(TINY_CONFIGS['mmpretrain']))
    state_dict = {key: value for key, value in source.state_dict().items()
                  if not key.startswith('head.')}
    state_dict['extra.weight'] = torch.ones(1)
    torch.save(dict(state_dict=state_dict), tmp_path / 'partial.pth')
    with pytest.raises(ValueError, match=r'partial.pth does not fit the model of the config: '
                       r'2 missing keys, e.g. head.layers.head.weight, head.layers.head.bias; '
                       r'1 unexpected keys, e.g. extra.weight\. .*strict=False'):
        init_model(TINY_CONFIGS['mmpretrain'], tmp_path / 'partial.pth')

    model = init_model(TINY_CONFIGS['mmpretrain'], tmp_path / 'partial.pth', strict=False)
    backbone = dict(model.state_dict())
    assert all(torch.equal(backbone[key], value) for key, value in state_dict.items()
               if key in backbone)


def test_config_forms_and_options_leave_the_caller_config_alone():
    cfg = Config.fromfile(TINY_CONFIGS['mmpretrain'])
    before = copy.deepcopy(cfg.to_dict())
    options = {'model.head.num_classes': 7}
    for config in (cfg, cfg.to_dict()):
        model = init_model(config, cfg_options=options)
        assert model.head.num_classes == 7 and model.cfg.model.head.num_classes == 7
    assert cfg.to_dict() == before
    with pytest.raises(TypeError, match='config must be a path, a Config or a dict, got int'):
        init_model(3)


def test_unusable_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'checkpoint .*missing.pth not found'):
        init_model(TINY_CONFIGS['mmpretrain'], tmp_path / 'missing.pth')
    (tmp_path / 'empty.pth').write_bytes(b'')
    with pytest.raises(ValueError, match=r'empty.pth is empty \(0 bytes\)'):
        init_model(TINY_CONFIGS['mmpretrain'], tmp_path / 'empty.pth')


def test_a_checkpoint_saved_mid_fade_is_refused(tmp_path):
    model = init_model(TINY_CONFIGS['mmpretrain'])
    checkpoint = save(model, tmp_path / 'fading.pth', mmsls_progressive_depth=dict(
        blocks=['layers.3'], blend=0.5, removed=False))
    with pytest.raises(ValueError, match=r'saved while blocks \[\'layers.3\'\] were being faded '
                       r'out \(blend 0.5\).*ProgressiveDepthHook'):
        init_model(TINY_CONFIGS['mmpretrain'], checkpoint)


def test_pickled_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ('code ran',))

    torch.save(dict(state_dict={}, meta=dict(x=Payload())), tmp_path / 'poisoned.pth')
    with pytest.raises(Exception, match='Weights only load failed'):
        init_model(TINY_CONFIGS['mmpretrain'], tmp_path / 'poisoned.pth')
