"""Where adapters act in each supported backbone family: the one place that knows the families.

Adapters are child modules of the block they belong to (``block.adapter_attn``,
``block.adapter_mlp``) and act through PyTorch forward hooks on the block's attention and MLP
submodules; no ``forward`` is replaced. The hooks are instances of module-level classes that hold
the adapter, so ``copy.deepcopy`` and pickling keep each hook bound to the copied adapter.

- A sequential adapter (:class:`RepAdapter`) is a forward pre-hook that replaces the first
  positional input of the submodule by ``adapter(input)``. Keyword inputs such as FFN's
  ``identity`` (the residual) are left alone, so the block computes ``x + attn(adapter(norm1(x)))``.
- A parallel adapter (:class:`Convpass`) is a forward hook that adds
  ``drop_path(adapter(input, grid))`` to the submodule's output. Where that output already includes
  the residual (mmcv's FFN and MultiheadAttention add ``identity``), adding the branch is still
  ``x + f(x) + s * convpass(x)``.

Swin + RepAdapter: the attention adapter acts on the input of ``attn.w_msa``, i.e. on the windows
after padding, cyclic shift and partition, rather than on ``norm1(x)``. A token-wise map commutes
with shift and partition, so this is the published placement; it also adapts the zero tokens that
pad H, W up to a multiple of the window size, exactly as ``w_msa.qkv`` sees them after merging.
That makes the merged model equal to the unmerged one for every input size.
"""
from dataclasses import dataclass
from typing import Callable, Iterator, List, Tuple

import torch
from torch import nn

from mmsls.loaded_classes import is_instance_of, loaded_class
from mmsls.registry import MODELS
from .convpass import Convpass
from .repadapter import RepAdapter

ADAPTER_SLOTS = ('adapter_attn', 'adapter_mlp')
PLACEMENTS = {'attn_mlp': ADAPTER_SLOTS, 'attn': ('adapter_attn', )}


@dataclass(frozen=True)
class AdapterSite:
    """Where the adapter of one slot (attention or MLP) of a block acts; each field maps a block to
    a submodule of it.

    Attributes:
        sequential_input: The submodule whose first input a sequential adapter replaces.
        projection: The linear map that first reads that input, as ``(module, weight name, bias
            name)``; a sequential adapter folds into it when merged.
        parallel_branch: The submodule a parallel adapter runs beside (its output gets the branch).
        drop_path: The stochastic-depth layer of that branch, applied to the adapter branch too.
    """
    sequential_input: Callable[[nn.Module], nn.Module]
    projection: Callable[[nn.Module], Tuple[nn.Module, str, str]]
    parallel_branch: Callable[[nn.Module], nn.Module]
    drop_path: Callable[[nn.Module], nn.Module]


@dataclass(frozen=True)
class BackboneFamily:
    """A supported backbone family: its classes, how its patch grid is known, its adapter sites.

    Classes are named by module path and looked up only in modules already imported: a backbone
    can only be an instance of a class whose module is loaded, and so wrapping an mmpretrain model
    does not import mmdet and mmseg.

    Attributes:
        name: Shown in messages.
        module: The module defining the backbone and block classes.
        backbone_class: The backbone class (subclasses match too, if built from the same blocks).
        block_class: The block class; blocks are found by exact type anywhere in the backbone, so
            pruned block containers with non-contiguous names are fine.
        grid_source: ``'patch_embed'``: the grid is the ``out_size`` that ``backbone.patch_embed``
            returns; ``'block'``: the ``hw_shape`` argument of each block's forward.
        attn: Where the attention adapter acts.
        mlp: Where the MLP adapter acts.
    """
    name: str
    module: str
    backbone_class: str
    block_class: str
    grid_source: str
    attn: AdapterSite
    mlp: AdapterSite

    def is_block(self, module: nn.Module) -> bool:
        return type(module) is loaded_class(self.module, self.block_class)

    def site(self, slot: str) -> AdapterSite:
        return self.attn if slot == 'adapter_attn' else self.mlp


# mmcv's FFN, shared by the three families: layers[0] = Sequential(fc1, act, dropout).
_MMCV_FFN_SITE = AdapterSite(
    sequential_input=lambda block: block.ffn,
    projection=lambda block: (block.ffn.layers[0][0], 'weight', 'bias'),
    parallel_branch=lambda block: block.ffn,
    drop_path=lambda block: block.ffn.dropout_layer)

FAMILIES = (
    BackboneFamily(
        name='mmpretrain VisionTransformer (incl. DeiT archs)',
        module='mmpretrain.models.backbones.vision_transformer',
        backbone_class='VisionTransformer',
        block_class='TransformerEncoderLayer',
        grid_source='patch_embed',
        # x + attn(ln1(x)); attn is mmpretrain's MultiheadAttention (Linear qkv, DropPath out_drop).
        attn=AdapterSite(
            sequential_input=lambda block: block.attn,
            projection=lambda block: (block.attn.qkv, 'weight', 'bias'),
            parallel_branch=lambda block: block.attn,
            drop_path=lambda block: block.attn.out_drop),
        mlp=_MMCV_FFN_SITE),
    BackboneFamily(
        name='mmdet SwinTransformer',
        module='mmdet.models.backbones.swin',
        backbone_class='SwinTransformer',
        block_class='SwinBlock',
        grid_source='block',
        # attn is ShiftWindowMSA(query, hw_shape); its w_msa(windows) holds qkv (see the module
        # docstring).
        attn=AdapterSite(
            sequential_input=lambda block: block.attn.w_msa,
            projection=lambda block: (block.attn.w_msa.qkv, 'weight', 'bias'),
            parallel_branch=lambda block: block.attn,
            drop_path=lambda block: block.attn.drop),
        mlp=_MMCV_FFN_SITE),
    BackboneFamily(
        name='mmseg VisionTransformer',
        module='mmseg.models.backbones.vit',
        backbone_class='VisionTransformer',
        block_class='TransformerEncoderLayer',
        grid_source='patch_embed',
        # attn(norm1(x), identity=x) is mmcv's MultiheadAttention around nn.MultiheadAttention; with
        # key and value unset, q, k and v all read the adapted query, so the merge folds into all
        # of in_proj.
        attn=AdapterSite(
            sequential_input=lambda block: block.attn,
            projection=lambda block: (block.attn.attn, 'in_proj_weight', 'in_proj_bias'),
            parallel_branch=lambda block: block.attn,
            drop_path=lambda block: block.attn.dropout_layer),
        mlp=_MMCV_FFN_SITE),
)


def supported_backbones() -> str:
    return '; '.join(family.name for family in FAMILIES)


def find_family(backbone: nn.Module) -> BackboneFamily:
    """The family of ``backbone``.

    Raises:
        TypeError: If ``backbone`` is of no supported family; the message lists them.
    """
    for family in FAMILIES:
        if is_instance_of(backbone, family.module, family.backbone_class):
            return family
    raise TypeError(
        f'Adapters cannot be attached to {type(backbone).__module__}.{type(backbone).__name__}: '
        f'supported backbones are {supported_backbones()}.')


def family_blocks(backbone: nn.Module, family: BackboneFamily) -> List[nn.Module]:
    """The blocks of ``backbone`` in forward order, checked to have the structure adapters need."""
    # Imported here: this module loads mmcv's compiled ops, which the backbone has loaded already.
    from mmcv.cnn.bricks.transformer import FFN
    blocks = [module for module in backbone.modules() if family.is_block(module)]
    if not blocks:
        raise TypeError(
            f'{type(backbone).__name__} has no {family.block_class} blocks of the '
            f'{family.name} family; supported backbones are {supported_backbones()}.')
    for block in blocks:
        if not isinstance(block.ffn, FFN):
            raise TypeError(
                f'Adapters need the standard mmcv FFN in every block, found '
                f'{type(block.ffn).__name__}; build the backbone with its default FFN '
                "(e.g. ffn_type='origin' for mmpretrain).")
    return blocks


class PatchGrid:
    """The patch grid (H, W) of the forward pass in progress.

    Parallel adapters reshape patch tokens to this grid. One grid is shared by the adapters of a
    backbone and recorded by a hook: ViTs from ``patch_embed``'s returned ``out_size``, Swin from
    each block's ``hw_shape`` argument. A block run outside its backbone's forward sees the last
    recorded grid.
    """

    def __init__(self):
        self._hw_shape = None

    @property
    def hw_shape(self) -> Tuple[int, int]:
        if self._hw_shape is None:
            raise RuntimeError('No patch grid recorded yet: run the backbone, not a block alone, '
                               'before its Convpass adapters.')
        return self._hw_shape

    def record_embed_output(self, module: nn.Module, args: tuple, output: tuple) -> None:
        """Forward hook for a patch embedding that returns ``(tokens, (H, W))``."""
        self._hw_shape = tuple(output[1])

    def record_block_input(self, module: nn.Module, args: tuple) -> None:
        """Forward pre-hook for a block called as ``block(x, hw_shape)``."""
        self._hw_shape = tuple(args[1])


class SequentialAdapterHook:
    """Forward pre-hook: the submodule reads ``adapter(x)`` instead of its first input ``x``."""

    def __init__(self, adapter: nn.Module):
        self.adapter = adapter

    def __call__(self, module: nn.Module, args: tuple) -> tuple:
        if not args:
            raise RuntimeError(f'{type(module).__name__} was called without a positional input; '
                               'its adapter adapts the first positional input.')
        return (self.adapter(args[0]), *args[1:])


class ParallelAdapterHook:
    """Forward hook: adds ``drop_path(adapter(x, grid))`` to the submodule's output, ``x`` being
    the submodule's first input."""

    def __init__(self, adapter: nn.Module, grid: PatchGrid, drop_path: nn.Module):
        self.adapter = adapter
        self.grid = grid
        self.drop_path = drop_path

    def __call__(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        return output + self.drop_path(self.adapter(args[0], self.grid.hw_shape))


def build_adapter(cfg: dict, embed_dims: int) -> nn.Module:
    """Build a RepAdapter or Convpass from ``cfg`` (not modified) for tokens of ``embed_dims``."""
    cfg = dict(cfg)
    adapter_type = cfg.pop('type', None)
    cls = MODELS.get(adapter_type) if isinstance(adapter_type, str) else adapter_type
    if not (isinstance(cls, type) and issubclass(cls, (RepAdapter, Convpass))):
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
        backbone (nn.Module): A backbone of a supported family.
        adapter (dict): The adapter config, e.g. ``dict(type='RepAdapter', scale=0.1)``.
        placement (str): ``'attn_mlp'`` (attention and MLP of every block) or ``'attn'``
            (attention only).

    Returns:
        BackboneFamily: The family of ``backbone``.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f'placement={placement!r} is not one of {sorted(PLACEMENTS)}')
    family = find_family(backbone)
    blocks = family_blocks(backbone, family)
    grid = PatchGrid()
    uses_grid = False
    for block in blocks:
        for slot in PLACEMENTS[placement]:
            if hasattr(block, slot):
                raise ValueError(f'{type(block).__name__} already has an {slot}: adapters can be '
                                 'attached once.')
            module = build_adapter(adapter, embed_dims=block.ffn.embed_dims)
            block.add_module(slot, module)
            site = family.site(slot)
            if isinstance(module, RepAdapter):
                site.sequential_input(block).register_forward_pre_hook(
                    SequentialAdapterHook(module))
            else:
                site.parallel_branch(block).register_forward_hook(
                    ParallelAdapterHook(module, grid, site.drop_path(block)))
                uses_grid = True
    if uses_grid:
        if family.grid_source == 'patch_embed':
            backbone.patch_embed.register_forward_hook(grid.record_embed_output)
        else:
            for block in blocks:
                block.register_forward_pre_hook(grid.record_block_input)
    return family


def named_adapters(module: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """The (name, adapter) pairs of every RepAdapter and Convpass inside ``module``."""
    for name, child in module.named_modules():
        if isinstance(child, (RepAdapter, Convpass)):
            yield name, child


def adapted_blocks(model: nn.Module) -> Iterator[Tuple[nn.Module, BackboneFamily]]:
    """The (block, family) pairs of every block inside ``model`` that holds an adapter."""
    for module in model.modules():
        if any(hasattr(module, slot) for slot in ADAPTER_SLOTS):
            for family in FAMILIES:
                if family.is_block(module):
                    yield module, family


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
