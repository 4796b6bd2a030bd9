"""Re-parameterisation: fold RepAdapters into the projections they feed."""
import warnings

import torch
from torch import nn

from .attach import ADAPTER_SLOTS, adapted_blocks, detach_adapter
from .convpass import Convpass
from .repadapter import RepAdapter


def merge_adapters(model: nn.Module, strict: bool = False) -> int:
    """Fold every RepAdapter in ``model`` into the linear projection that follows it.

    An adapter ``x -> W_ad x + b_ad`` before a projection ``y = W x + b`` (qkv / ``in_proj`` for
    attention, fc1 for the MLP) becomes ``W' = W W_ad``, ``b' = W b_ad + b``; the adapter and its
    hook are removed, so the block is a plain block again. The merged model computes what the
    unmerged one computes in eval mode (adapter dropout off). The fold is computed in float64.

    Convpass cannot be merged: it is left in place with a warning, or an error if ``strict``.

    Args:
        model (nn.Module): Any module containing adapted blocks (a backbone, an
            :class:`AdaptedBackbone`, or a whole detector/classifier/segmentor).
        strict (bool): Raise instead of warning when a Convpass adapter is found. Defaults to False.

    Returns:
        int: The number of adapters merged.
    """
    blocks = list(adapted_blocks(model))
    num_convpass = sum(isinstance(getattr(block, slot, None), Convpass)
                       for block, _ in blocks for slot in ADAPTER_SLOTS)
    if num_convpass and strict:
        raise ValueError(f'{num_convpass} Convpass adapters cannot be merged (Convpass is not '
                         'linear); merge only RepAdapter models, or pass strict=False.')
    merged = 0
    with torch.no_grad():
        for block, family in blocks:
            for slot in ADAPTER_SLOTS:
                if not isinstance(getattr(block, slot, None), RepAdapter):
                    continue
                projection, weight_name, bias_name = family.site(slot).projection(block)
                _fold_into(getattr(block, slot), projection, weight_name, bias_name)
                detach_adapter(block, slot)
                merged += 1
    if num_convpass:
        warnings.warn(f'{num_convpass} Convpass adapters are not mergeable and were left in place.')
    return merged


def _fold_into(adapter: RepAdapter, projection: nn.Module, weight_name: str,
               bias_name: str) -> None:
    weight = getattr(projection, weight_name)
    bias = getattr(projection, bias_name)
    if bias is None:
        raise ValueError(
            f'Cannot merge a RepAdapter into {type(projection).__name__}.{weight_name}: it has no '
            f'{bias_name}, which the adapter bias needs. Build the backbone with qkv_bias=True.')
    adapter_weight, adapter_bias = (t.double() for t in adapter.affine())
    new_bias = weight.double() @ adapter_bias + bias.double()
    new_weight = weight.double() @ adapter_weight
    bias.copy_(new_bias)
    weight.copy_(new_weight)
