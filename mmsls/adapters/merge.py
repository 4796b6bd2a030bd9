"""Re-parameterisation: fold every mergeable adapter into the block it acts on."""
import warnings

from torch import nn

from .attach import adapted_blocks, detach_adapter


def merge_adapters(model: nn.Module, strict: bool = False) -> int:
    """Fold every mergeable adapter (RepAdapter) in ``model`` into the projection that follows it.

    Each adapter merges itself (``adapter.merge``, see :mod:`mmsls.adapters.base`); it and its hook
    are then removed, so the block is a plain block again. The merged model computes what the
    unmerged one computes in eval mode (adapter dropout off).

    Adapters that cannot be merged (Convpass) are left in place with a warning, or an error if
    ``strict``.

    Args:
        model (nn.Module): Any module containing adapted blocks (a backbone, an
            :class:`AdaptedBackbone`, or a whole detector/classifier/segmentor).
        strict (bool): Raise instead of warning when an adapter cannot be merged. Defaults to False.

    Returns:
        int: The number of adapters merged.
    """
    filled = list(adapted_blocks(model))
    unmergeable = [getattr(block, slot) for block, slot, _ in filled
                   if not getattr(block, slot).mergeable]
    kinds = sorted({type(adapter).__name__ for adapter in unmergeable})
    if unmergeable and strict:
        raise ValueError(f'{len(unmergeable)} {"/".join(kinds)} adapters cannot be merged (they are '
                         'not linear); merge only RepAdapter models, or pass strict=False.')
    merged = 0
    for block, slot, family in filled:
        adapter = getattr(block, slot)
        if adapter.mergeable:
            adapter.merge(block, family.adapter_sites[slot])
            detach_adapter(block, slot)
            merged += 1
    if unmergeable:
        warnings.warn(f'{len(unmergeable)} {"/".join(kinds)} adapters are not mergeable and were '
                      'left in place.')
    return merged
