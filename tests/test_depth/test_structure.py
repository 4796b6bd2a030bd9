"""The depth record: what a checkpoint stores, re-applying it, and refusing mismatched weights."""
import copy
import json

import pytest
import torch

from mmsls.depth import (apply_depth_structure, backbone_state_prefix, check_weights_match_record,
                         depth_structure, is_depth_pruned, prune_depth, recorded_keep)
from .conftest import build, setr_cfg, swin_retinanet_cfg, vit_classifier_cfg

SCOPED_CFGS = {'mmpretrain': vit_classifier_cfg, 'mmseg': setr_cfg, 'mmdet': swin_retinanet_cfg}
KEEPS = {'mmpretrain': [0, 2], 'mmseg': [0, 1, 3, 4, 7], 'mmdet': [0, 1, 3, 4, 6]}


def test_record_names_all_and_kept_units_and_is_json_safe(vit_classifier):
    assert not is_depth_pruned(vit_classifier)
    prune_depth(vit_classifier, [0, 2])
    record = depth_structure(vit_classifier)
    assert record == dict(units=['layers.0', 'layers.1', 'layers.2', 'layers.3'],
                          kept=['layers.0', 'layers.2'])
    assert json.loads(json.dumps(record)) == record
    assert is_depth_pruned(vit_classifier)
    prune_depth(vit_classifier, [1])
    assert depth_structure(vit_classifier)['units'] == record['units'], 'original units survive'


@pytest.mark.parametrize('scope', sorted(SCOPED_CFGS))
def test_record_rebuilds_the_pruned_model_and_weights_load_strictly(scope):
    trained = build(scope, SCOPED_CFGS[scope](), seed=0)
    prune_depth(trained, KEEPS[scope])
    record, state_dict = depth_structure(trained), trained.state_dict()

    fresh = build(scope, SCOPED_CFGS[scope](), seed=1)
    apply_depth_structure(fresh, record, state_dict)
    fresh.load_state_dict(state_dict, strict=True)
    assert depth_structure(fresh) == record
    size = 64 if scope == 'mmdet' else 32
    images = torch.randn(2, 3, size, size)
    with torch.no_grad():
        for got, want in zip(fresh.extract_feat(images), trained.extract_feat(images)):
            torch.testing.assert_close(got, want)


def test_applying_a_record_to_a_model_already_pruned_to_it_is_a_no_op(vit_classifier):
    prune_depth(vit_classifier, [0, 2])
    record = depth_structure(vit_classifier)
    assert recorded_keep(vit_classifier, record) == [0, 1]
    apply_depth_structure(vit_classifier, record, vit_classifier.state_dict())
    assert depth_structure(vit_classifier) == record


def test_adapted_backbone_keys_are_found_by_identity():
    cfg = vit_classifier_cfg()
    cfg['backbone'] = dict(type='mmsls.AdaptedBackbone', backbone=cfg['backbone'],
                           adapter=dict(type='RepAdapter'))
    model = build('mmpretrain', cfg)
    # AdaptedBackbone strips its inner "backbone." from the keys.
    assert backbone_state_prefix(model) == 'backbone.'
    prune_depth(model, [1, 3])
    record, state_dict = depth_structure(model), model.state_dict()
    fresh = build('mmpretrain', cfg, seed=1)
    apply_depth_structure(fresh, record, state_dict)
    fresh.load_state_dict(state_dict, strict=True)
    no_adapters = {key: value for key, value in state_dict.items() if '.adapter_' not in key}
    with pytest.raises(ValueError, match=r'unit layers\.1 is kept by the depth record, but the '
                       r'checkpoint has no backbone\.layers\.1\.adapter_attn'):
        check_weights_match_record(build('mmpretrain', cfg), record, no_adapters)


def test_weights_of_a_removed_unit_are_refused(vit_classifier):
    full_state = vit_classifier.state_dict()
    record = dict(units=[f'layers.{i}' for i in range(4)], kept=['layers.0', 'layers.2'])
    with pytest.raises(ValueError, match=r'unit layers\.1 is removed by the depth record, but the '
                       r'checkpoint holds backbone\.layers\.1\.attn\.proj\.bias'):
        apply_depth_structure(vit_classifier, record, full_state)
    assert len(vit_classifier.backbone.layers) == 4, 'a refused checkpoint leaves the model unchanged'


def test_missing_weights_of_a_kept_unit_are_refused(vit_classifier):
    reference = copy.deepcopy(vit_classifier)
    prune_depth(reference, [0, 3])
    state = reference.state_dict()
    record = dict(units=[f'layers.{i}' for i in range(4)], kept=['layers.0', 'layers.2'])
    with pytest.raises(ValueError, match=r'unit layers\.2 is kept by the depth record, but the '
                       r'checkpoint has no backbone\.layers\.2\.ln1\.weight \(12 of its weights'):
        apply_depth_structure(vit_classifier, record, state)


def test_ddp_prefix_in_checkpoint_keys_is_ignored(vit_classifier):
    trained = copy.deepcopy(vit_classifier)
    prune_depth(trained, [0, 3])
    state = {f'module.{key}': value for key, value in trained.state_dict().items()}
    apply_depth_structure(vit_classifier, depth_structure(trained), state)
    assert len(vit_classifier.backbone.layers) == 2


def test_record_of_another_architecture_is_refused(vit_classifier):
    record = dict(units=[f'layers.{i}' for i in range(12)], kept=['layers.0'])
    with pytest.raises(ValueError, match=r'made on a backbone with units \[layers\.0, layers\.1, \.\.\., '
                       r'layers\.11\] \(12 units\), but this mmpretrain VisionTransformer has '
                       r'\[layers\.0, layers\.1, layers\.2, layers\.3\] \(4 units\)'):
        apply_depth_structure(vit_classifier, record)


def test_record_keeping_a_unit_the_model_already_lost_is_refused(vit_classifier):
    prune_depth(vit_classifier, [0, 1])
    record = dict(units=[f'layers.{i}' for i in range(4)], kept=['layers.0', 'layers.3'])
    with pytest.raises(ValueError, match=r'keeps layers\.3, which this model no longer has'):
        apply_depth_structure(vit_classifier, record)


@pytest.mark.parametrize('record', [
    None, dict(units=['layers.0']), dict(units='layers.0', kept=['layers.0']),
    dict(units=['layers.0', 'layers.1'], kept=[]),
    dict(units=['layers.0', 'layers.1'], kept=['layers.0', 'layers.0']),
    dict(units=['layers.0', 'layers.1'], kept=['layers.5']),
])
def test_malformed_record_is_refused(vit_classifier, record):
    with pytest.raises(ValueError, match='depth record'):
        apply_depth_structure(vit_classifier, record)
