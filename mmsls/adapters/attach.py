"""Attaching adapters to the blocks of a backbone, and detaching them: the mechanism.

Where adapters act is the backbone family's business (``family.adapter_sites``, dotted paths in a
block, in :mod:`mmsls.families`); how an adapter acts is the adapter's (:mod:`mmsls.adapters.base`).
"""
from typing import Iterator, List, Tuple

from torch import nn

from mmsls.families import BackboneFamily, PatchGrid, find_family, supported_backbones
from mmsls.registry import MODELS
from .base import Adapter

#: The slots of a block that each placement fills.
PLACEMENTS = {'attn_mlp': ('adapter_attn', 'adapter_mlp'), 'attn': ('adapter_attn', )}


def adapter_family(backbone: nn.Module) -> BackboneFamily:
    """The family of ``backbone``, which must take adapters.

    Raises:
        TypeError: If ``backbone`` is of no family with adapter sites; the message lists those.
    """
    family = find_family(backbone)
    where = f'{type(backbone).__module__}.{type(backbone).__name__}'
    if family is None:
        raise TypeError(f'Adapters cannot be attached to {where}: supported backbones are '
                        f'{supported_backbones(with_adapters=True)}.')
    if not family.adapter_sites:
        raise TypeError(f'Adapters cannot be attached to {where} ({family.name}): '
                        f'{family.no_adapters_reason}; supported backbones are '
                        f'{supported_backbones(with_adapters=True)}.')
    return family


def build_adapter(cfg: dict, embed_dims: int) -> Adapter:
    """Build an adapter from ``cfg`` (not modified) for tokens of ``embed_dims``."""
    cfg = dict(cfg)
    adapter_type = cfg.pop('type', None)
    cls = MODELS.get(adapter_type) if isinstance(adapter_type, str) else adapter_type
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ValueError(f'adapter type {adapter_type!r} is not an adapter mmsls can attach; '
                         "use type='RepAdapter' or type='Convpass'.")
    if 'embed_dims' in cfg:
        raise ValueError('Do not set embed_dims in the adapter config: each adapter takes the '
                         'channels of its block.')
    return cls(embed_dims=embed_dims, **cfg)


def attach_adapters(backbone: nn.Module, adapter: dict,
                    placement: str = 'attn_mlp') -> BackboneFamily:
    """Attach an adapter built from ``adapter`` to every block of ``backbone``.

    Args:
        backbone (nn.Module): A backbone of a family with adapter sites.
        adapter (dict): The adapter config, e.g. ``dict(type='RepAdapter', scale=0.1)``.
        placement (str): ``'attn_mlp'`` (attention and MLP of every block) or ``'attn'``
            (attention only).

    Returns:
        BackboneFamily: The family of ``backbone``.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f'placement={placement!r} is not one of {sorted(PLACEMENTS)}')
    family = adapter_family(backbone)
    blocks = [unit.module for unit in family.units(backbone)]
    _check_sites(family, blocks, PLACEMENTS[placement])
    grid = PatchGrid()
    uses_grid = False
    for block in blocks:
        for slot in PLACEMENTS[placement]:
            if hasattr(block, slot):
                raise ValueError(f'{type(block).__name__} already has an {slot}: adapters can be '
                                 'attached once.')
            site = family.adapter_sites[slot]
            # The adapter reads what the projection reads: its input channels.
            embed_dims = getattr(block.get_submodule(site.projection), site.weight).shape[1]
            module = build_adapter(adapter, embed_dims=embed_dims)
            block.add_module(slot, module)
            module.attach(block, site, grid)
            uses_grid = uses_grid or module.uses_grid
    if uses_grid:
        family.record_grid(backbone, grid)
    return family


def _check_sites(family: BackboneFamily, blocks: List[nn.Module], slots: Tuple[str, ...]) -> None:
    """Refuse blocks lacking a submodule the adapter sites name (e.g. a non-standard FFN)."""
    for block in blocks:
        for slot in slots:
            site = family.adapter_sites[slot]
            for path in (site.input, site.projection, site.branch, site.drop_path):
                try:
                    block.get_submodule(path)
                except AttributeError:
                    raise TypeError(
                        f'{type(block).__name__} has no {path}, where the {family.name} family puts '
                        f'its {slot}: adapters need the standard blocks of that family; build the '
                        "backbone with its default attention and FFN (e.g. ffn_type='origin' for "
                        'mmpretrain).') from None


def named_adapters(module: nn.Module) -> Iterator[Tuple[str, Adapter]]:
    """The (name, adapter) pairs of every adapter inside ``module``."""
    for name, child in module.named_modules():
        if isinstance(child, Adapter):
            yield name, child


def adapted_blocks(model: nn.Module) -> Iterator[Tuple[nn.Module, str, BackboneFamily]]:
    """``(block, slot, family)`` for every adapter slot filled in any backbone inside ``model``."""
    for backbone in model.modules():
        family = find_family(backbone)
        if family is None or not family.adapter_sites:
            continue
        for unit in family.units(backbone):
            for slot in family.adapter_sites:
                if isinstance(getattr(unit.module, slot, None), Adapter):
                    yield unit.module, slot, family


def detach_adapter(block: nn.Module, slot: str) -> nn.Module:
    """Remove the adapter in ``slot`` from ``block`` with the hooks that run it; return it."""
    adapter = getattr(block, slot)
    for module in block.modules():
        # torch lists hooks only in these dicts; handles are not kept because a deepcopy or a
        # pickle of the model would not carry them over.
        for hooks in (module._forward_pre_hooks, module._forward_hooks):
            for key in [key for key, hook in hooks.items()
                        if getattr(hook, 'adapter', None) is adapter]:
                del hooks[key]
    delattr(block, slot)
    return adapter
