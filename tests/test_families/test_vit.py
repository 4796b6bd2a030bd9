"""mmpretrain and mmseg ViT families: pruned outputs equal a forward through the kept layers only."""
import copy

import pytest
import torch
from mmpretrain.models.utils import resize_pos_embed

from mmsls.depth import prunable_units, prune_depth
from mmsls.families.vit import remap_out_indices
from ..test_depth.conftest import build, vit_classifier_cfg


def mmpretrain_reference(vit, kept, images):
    """Cls token after the final norm, running only the layers at positions ``kept`` of ``vit``."""
    x, resolution = vit.patch_embed(images)
    x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
    x = x + resize_pos_embed(vit.pos_embed, vit.patch_resolution, resolution,
                             mode=vit.interpolate_mode, num_extra_tokens=vit.num_extra_tokens)
    x = vit.pre_norm(vit.drop_after_pos(x))
    for position in kept:
        x = vit.layers[position](x)
    return vit.ln1(x)[:, 0]


def mmseg_reference(vit, kept, images, out_positions):
    """Feature maps after the kept layers at ``out_positions`` (positions among the kept layers)."""
    x, (h, w) = vit.patch_embed(images)
    x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
    assert x.shape[1] == vit.pos_embed.shape[1], 'the reference assumes the training image size'
    x = vit.drop_after_pos(x + vit.pos_embed)
    outs = []
    for new_position, position in enumerate(kept):
        x = vit.layers[position](x)
        if new_position == len(kept) - 1:
            x = vit.norm1(x)
        if new_position in out_positions:
            outs.append(x[:, 1:].reshape(x.shape[0], h, w, -1).permute(0, 3, 1, 2))
    return outs


@pytest.mark.parametrize('keep', [[0, 1], [0, 2, 3], [3], [1, 2]])
def test_mmpretrain_vit_equals_reference(vit_classifier, keep):
    reference = copy.deepcopy(vit_classifier)
    images = torch.randn(2, 3, 32, 32)
    prune_depth(vit_classifier, keep)

    backbone = vit_classifier.backbone
    assert [unit.name for unit in prunable_units(vit_classifier)] == [f'layers.{i}' for i in keep]
    assert backbone.num_layers == len(keep)
    assert backbone.out_indices == [len(keep) - 1]
    with torch.no_grad():
        features = backbone(images)
        expected = mmpretrain_reference(reference.backbone, keep, images)
        assert len(features) == 1
        torch.testing.assert_close(features[0], expected)
        torch.testing.assert_close(vit_classifier(images, mode='tensor'), reference.head(
            (expected, )))
        # Pruning really removed work: the unpruned model computes something else.
        assert not torch.allclose(reference.backbone(images)[0], expected)


def test_mmpretrain_default_out_indices_follow_new_last_layer():
    for out_indices in (-1, [3], 3):
        model = build('mmpretrain', vit_classifier_cfg(out_indices=out_indices))
        prune_depth(model, [0, 1])
        assert model.backbone.out_indices == [1]
        assert len(model.backbone(torch.randn(1, 3, 32, 32))) == 1


def test_mmpretrain_multiple_outputs_remapped():
    model = build('mmpretrain', vit_classifier_cfg(num_layers=8, out_indices=[3, 7]))
    reference = copy.deepcopy(model)
    prune_depth(model, [0, 1, 2, 3])
    assert model.backbone.out_indices == [1, 3]
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        outs = model.backbone(images)
        x, resolution = reference.backbone.patch_embed(images)
        # Layer 1's output (not final-normed) and layer 3's (final-normed) cls tokens.
        x = torch.cat([reference.backbone.cls_token.expand(2, -1, -1), x], dim=1)
        x = x + reference.backbone.pos_embed
        x = reference.backbone.layers[1](reference.backbone.layers[0](x))
        torch.testing.assert_close(outs[0], x[:, 0])
        torch.testing.assert_close(outs[1], mmpretrain_reference(reference.backbone, [0, 1, 2, 3],
                                                                 images))


def test_pruning_a_pruned_model_indexes_current_units(vit_classifier):
    reference = copy.deepcopy(vit_classifier)
    prune_depth(vit_classifier, [0, 2, 3])
    prune_depth(vit_classifier, [0, 2])  # current units: layers.0, layers.2, layers.3
    assert [unit.name for unit in prunable_units(vit_classifier)] == ['layers.0', 'layers.3']
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit_classifier.backbone(images)[0],
                                   mmpretrain_reference(reference.backbone, [0, 3], images))


def test_mmseg_setr_outputs_remapped_and_equal_reference(setr):
    reference = copy.deepcopy(setr)
    keep = [0, 1, 2, 3, 4, 5]
    prune_depth(setr, keep)

    # (i + 1) * 6 / 8 rounded, minus 1: 2 -> 1, 4 -> 3, 6 -> 4 (5.25 -> 5), 7 -> 5; type kept.
    assert setr.backbone.out_indices == (1, 3, 4, 5)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = setr.extract_feat(images)
        expected = mmseg_reference(reference.backbone, keep, images, out_positions={1, 3, 4, 5})
        assert len(feats) == 4
        for feat, want in zip(feats, expected):
            torch.testing.assert_close(feat, want)
        # The decode head reads in_index 3 (the new last layer), the aux heads 0..2.
        torch.testing.assert_close(setr.decode_head(feats), reference.decode_head(expected))
        for head, ref_head in zip(setr.auxiliary_head, reference.auxiliary_head):
            torch.testing.assert_close(head(feats), ref_head(expected))


def test_mmseg_setr_auxiliary_heads_train_after_pruning(setr):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    prune_depth(setr, [0, 2, 3, 5, 6])
    setr.train()
    samples = []
    for _ in range(2):
        sample = SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 4, (1, 32, 32))))
        sample.set_metainfo(dict(img_shape=(32, 32), pad_shape=(32, 32), ori_shape=(32, 32)))
        samples.append(sample)
    losses = setr.loss(torch.randn(2, 3, 32, 32), samples)
    aux_losses = [key for key in losses if key.startswith('aux_')]
    assert len(aux_losses) == 6  # loss and accuracy for each of the three auxiliary heads
    total = sum(value for key, value in losses.items() if 'loss' in key)
    total.backward()
    kept_layer = setr.backbone.layers[0]
    assert kept_layer.attn.attn.in_proj_weight.grad.abs().sum() > 0


def test_mmseg_setr_refuses_fewer_layers_than_outputs(setr):
    with pytest.raises(ValueError, match='cannot serve the 4 outputs.*at least 4 layers'):
        prune_depth(setr, [0, 1, 2])
    assert len(setr.backbone.layers) == 8, 'a refused keep leaves the model unchanged'


@pytest.mark.parametrize('out_indices,num_before,num_after,expected', [
    ((9, 14, 19, 23), 24, 16, (6, 9, 12, 15)),   # SETR-L, 8 layers pruned
    ((9, 14, 19, 23), 24, 18, (7, 10, 14, 17)),  # SETR-L, 6 layers pruned
    ([11], 12, 6, [5]),
    ([4, 5, 6, 7], 8, 4, [0, 1, 2, 3]),          # collisions pushed apart
    ([0, 1, 7], 8, 3, [0, 1, 2]),                # forward bump, then clamp below the last
    ((1, 2), 12, 12, (1, 2)),
])
def test_remap_out_indices_rule(out_indices, num_before, num_after, expected):
    assert remap_out_indices(out_indices, num_before, num_after) == expected


def test_remap_out_indices_refuses_bad_input():
    with pytest.raises(ValueError, match='strictly increasing'):
        remap_out_indices([3, 1], 8, 4)
    with pytest.raises(ValueError, match='must name layers 0..7'):
        remap_out_indices([8], 8, 4)
