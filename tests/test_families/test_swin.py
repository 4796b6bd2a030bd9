"""mmdet Swin family: pruned blocks across stages, stage shapes unchanged, loading never misplaces."""
import copy

import pytest
import torch
from mmengine.config import ConfigDict

from mmsls.depth import depth_keep, prunable_units, prune_depth
from ..test_depth.conftest import build, swin_backbone_cfg

UNITS = ['stages.0.blocks.0', 'stages.1.blocks.0', 'stages.1.blocks.1', 'stages.2.blocks.0',
         'stages.2.blocks.1', 'stages.2.blocks.2', 'stages.3.blocks.0']


def swin_reference(swin, kept_names, images):
    """Outputs of mmdet's or mmpretrain's ``swin`` (unpruned) running only ``kept_names``."""
    x, hw = swin.patch_embed(images)
    x = swin.drop_after_pos(x)
    outs = []
    for stage_index, stage in enumerate(swin.stages):
        for block_index, block in enumerate(stage.blocks):
            if f'stages.{stage_index}.blocks.{block_index}' in kept_names:
                x = block(x, hw)
        out, out_hw = x, hw
        if stage.downsample is not None:
            x, hw = stage.downsample(x, hw)
        if stage_index in swin.out_indices:
            out = getattr(swin, f'norm{stage_index}')(out)
            outs.append(out.view(-1, *out_hw, swin.num_features[stage_index]).permute(0, 3, 1,
                                                                                     2).contiguous())
    return outs


def test_units_are_blocks_across_stages_with_stage_firsts_required(swin_retinanet):
    units = prunable_units(swin_retinanet)
    assert [unit.name for unit in units] == UNITS
    assert [unit.required for unit in units] == [True, True, False, True, False, False, True]


@pytest.mark.parametrize('removed', [['stages.2.blocks.1'], ['stages.1.blocks.1', 'stages.2.blocks.2'],
                                     ['stages.1.blocks.1', 'stages.2.blocks.1', 'stages.2.blocks.2']])
def test_outputs_equal_reference_and_fpn_fits(swin_retinanet, removed):
    reference = copy.deepcopy(swin_retinanet)
    kept = [name for name in UNITS if name not in removed]
    prune_depth(swin_retinanet, [UNITS.index(name) for name in kept])
    assert [unit.name for unit in prunable_units(swin_retinanet)] == kept

    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outs = swin_retinanet.backbone(images)
        expected = swin_reference(reference.backbone, kept, images)
        full = reference.backbone(images)
        assert [out.shape for out in outs] == [out.shape for out in full]
        for out, want in zip(outs, expected):
            torch.testing.assert_close(out, want)
        assert not torch.allclose(outs[-1], full[-1])
        # The FPN and the head run on the pruned features.
        cls_scores, _ = swin_retinanet.bbox_head(swin_retinanet.neck(outs))
        ref_scores, _ = reference.bbox_head(reference.neck(expected))
        for score, want in zip(cls_scores, ref_scores):
            torch.testing.assert_close(score, want)


def test_each_kept_block_keeps_its_own_shift(swin_retinanet):
    stage = swin_retinanet.backbone.stages[2]
    shifts = [block.attn.shift_size for block in stage.blocks]
    assert shifts == [0, 2, 0]
    prune_depth(swin_retinanet, [i for i, name in enumerate(UNITS) if name != 'stages.2.blocks.1'])
    # Blocks 0 and 2 are both non-shifted and now adjacent: each behaves as it was trained.
    assert [block.attn.shift_size for block in swin_retinanet.backbone.stages[2].blocks] == [0, 0]


def test_required_first_block_needs_permission(swin_retinanet):
    keep = [i for i, name in enumerate(UNITS) if name != 'stages.1.blocks.0']
    with pytest.raises(ValueError, match=r'drops stages\.1\.blocks\.0, a required unit \(the first '
                       r'block of its stage\).*position 1.*allow_empty_stages=True'):
        prune_depth(swin_retinanet, keep)
    assert [unit.name for unit in prunable_units(swin_retinanet)] == UNITS, 'nothing changed'


def test_emptied_stage_passes_features_through_merging_and_norm(swin_retinanet):
    reference = copy.deepcopy(swin_retinanet)
    kept = [name for name in UNITS if not name.startswith('stages.1.')]
    prune_depth(swin_retinanet, [UNITS.index(name) for name in kept], allow_empty_stages=True)
    assert len(swin_retinanet.backbone.stages[1].blocks) == 0
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outs = swin_retinanet.backbone(images)
        for out, want in zip(outs, swin_reference(reference.backbone, kept, images)):
            torch.testing.assert_close(out, want)
        assert swin_retinanet.neck(outs)[0].shape == reference.neck(reference.backbone(images))[0].shape


def test_depth_keep_adds_required_units(swin_retinanet):
    # The first 3 units, plus the first block of stages 2 and 3.
    assert depth_keep(swin_retinanet, 3) == [0, 1, 2, 3, 6]
    prune_depth(swin_retinanet, depth_keep(swin_retinanet, 3))
    assert depth_keep(swin_retinanet, 3) == [0, 1, 2, 3, 4], 'idempotent on the pruned model'


def test_unpruned_weights_load_non_strictly_into_the_same_blocks_only(swin_retinanet):
    other = build('mmdet', swin_backbone_cfg(), seed=1)  # a full checkpoint with other values
    prune_depth(swin_retinanet, [0, 1, 3, 5, 6])  # removes stages.1.blocks.1 and stages.2.blocks.1
    backbone = swin_retinanet.backbone
    incompatible = backbone.load_state_dict(other.state_dict(), strict=False)
    assert incompatible.missing_keys == []
    unit_names = {'.'.join(key.split('.')[:4]) for key in incompatible.unexpected_keys}
    assert unit_names == {'stages.1.blocks.1', 'stages.2.blocks.1'}
    # The block named stages.2.blocks.2 (now at position 1) got block 2's weights, not block 1's.
    loaded = backbone.stages[2].blocks[1].ffn.layers[1].weight
    torch.testing.assert_close(loaded, other.stages[2].blocks[2].ffn.layers[1].weight)


def test_pruned_checkpoint_into_unpruned_model_via_pretrained_init(swin_retinanet, tmp_path):
    """mmdet Swin's Pretrained init loads non-strictly: kept blocks land in their own place, the
    removed ones keep their own values instead of receiving a neighbour's weights."""
    prune_depth(swin_retinanet, [0, 1, 3, 5, 6])
    path = tmp_path / 'pruned_swin.pth'
    torch.save(dict(state_dict=swin_retinanet.state_dict()), path)  # a pruned detector checkpoint

    # mmdet reads init_cfg by attribute, as configs loaded from files provide it.
    init_cfg = ConfigDict(type='Pretrained', checkpoint=str(path))
    fresh = build('mmdet', swin_backbone_cfg(init_cfg=init_cfg), seed=2)
    before = copy.deepcopy(fresh.state_dict())
    fresh.init_weights()
    after = fresh.state_dict()
    pruned = swin_retinanet.backbone.state_dict()
    for key, value in after.items():
        if key.startswith(('stages.1.blocks.1.', 'stages.2.blocks.1.')):
            torch.testing.assert_close(value, before[key])
        else:
            torch.testing.assert_close(value, pruned[key])


# mmpretrain's SwinTransformer (classification) is the same family under another class.
MMPRETRAIN_SWIN_CLASSIFIER = dict(
    type='ImageClassifier',
    backbone=dict(type='SwinTransformer', img_size=64, window_size=4, pad_small_map=True,
                  drop_path_rate=0.,
                  arch=dict(embed_dims=32, depths=[1, 2, 3, 1], num_heads=[1, 2, 4, 8])),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=256))


def test_mmpretrain_swin_prunes_like_mmdet_swin():
    classifier = build('mmpretrain', MMPRETRAIN_SWIN_CLASSIFIER)
    reference = copy.deepcopy(classifier)
    units = prunable_units(classifier)
    assert [unit.name for unit in units] == UNITS
    assert [unit.required for unit in units] == [True, True, False, True, False, False, True]

    kept = [name for name in UNITS if name not in ('stages.1.blocks.1', 'stages.2.blocks.1')]
    prune_depth(classifier, [UNITS.index(name) for name in kept])
    assert [unit.name for unit in prunable_units(classifier)] == kept
    # Each kept block keeps its own shift: stage 2's blocks 0 and 2 are both non-shifted.
    assert [block.attn.shift_size for block in classifier.backbone.stages[2].blocks] == [0, 0]
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outs = classifier.backbone(images)
        expected = swin_reference(reference.backbone, kept, images)  # forward as mmdet's
        torch.testing.assert_close(outs[-1], expected[-1])
        assert not torch.allclose(outs[-1], reference.backbone(images)[-1])
        logits = classifier(images, mode='tensor')
        torch.testing.assert_close(logits, reference.head.fc(reference.neck(tuple(expected))[-1]))
    # A full checkpoint loads non-strictly into the blocks of the same name only.
    incompatible = classifier.load_state_dict(reference.state_dict(), strict=False)
    assert incompatible.missing_keys == []
    assert {'.'.join(key.split('.')[1:5]) for key in incompatible.unexpected_keys} == {
        'stages.1.blocks.1', 'stages.2.blocks.1'}
