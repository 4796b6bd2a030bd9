import pytest
import torch
from torch import nn

from mmsls.depth import PrunedLayers


def make_pruned():
    blocks = [(str(index), nn.Linear(3, 3)) for index in (0, 2, 5)]
    return PrunedLayers(blocks, original_names=[str(index) for index in range(6)]), blocks


def test_keeps_original_names_in_state_dict_and_forward_order():
    pruned, blocks = make_pruned()
    assert [name for name, _ in pruned.named_children()] == ['0', '2', '5']
    assert list(pruned) == [block for _, block in blocks]
    assert sorted({key.split('.')[0] for key in pruned.state_dict()}) == ['0', '2', '5']
    assert pruned.original_names == ('0', '1', '2', '3', '4', '5')


def test_len_and_positional_indexing():
    pruned, blocks = make_pruned()
    assert len(pruned) == 3
    assert pruned[1] is blocks[1][1]
    assert pruned[-1] is blocks[2][1]
    with pytest.raises(IndexError):
        pruned[3]
    with pytest.raises(TypeError, match='int position'):
        pruned['2']


def test_init_weights_recurses_into_kept_blocks():
    """PrunedLayers is a BaseModule, so a model's init_weights reaches the blocks inside it."""
    from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
    layers = [(str(index), TransformerEncoderLayer(embed_dims=16, num_heads=2,
                                                   feedforward_channels=32)) for index in (1, 3)]
    for _, layer in layers:
        nn.init.zeros_(layer.ffn.layers[0][0].weight)
    pruned = PrunedLayers(layers, original_names=['0', '1', '2', '3'])
    pruned.init_weights()
    for _, layer in layers:
        assert torch.count_nonzero(layer.ffn.layers[0][0].weight) > 0
