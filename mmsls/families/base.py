"""What a backbone family declares: the interface every family file fills in.

A family is everything mmsls knows about one backbone class: how to recognise it, its prunable units
(blocks) and which of them are required, the backbone attributes that change when blocks go, where
adapters act (dotted paths inside a block, as data), where the patch grid comes from, and how a unit's
output reads as SLS features. The mechanisms that use these facts live elsewhere and ask the family:
:mod:`mmsls.adapters` (attach, merge), :mod:`mmsls.depth` (prune, structure record) and
:mod:`mmsls.analysis` (feature capture). Adding a backbone is one new file in this package.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from mmsls.loaded_classes import is_instance_of
from .containers import PrunedLayers
from .merging import LinearSites, MergedBlock


@dataclass(frozen=True)
class PrunableUnit:
    """A block that depth pruning may remove.

    Args:
        name (str): The block's module path relative to the backbone, e.g. ``layers.3`` or
            ``stages.2.blocks.4``. Pruned containers keep original indices, so the name never changes.
        module (nn.Module): The block itself.
        required (bool): Whether the block may only be removed when the caller passes
            ``allow_empty_stages=True`` (e.g. the first block of a Swin stage).
    """
    name: str
    module: nn.Module
    required: bool = False

    @property
    def container(self) -> str:
        """The path of the block list holding this unit, relative to the backbone."""
        return self.name.rpartition('.')[0]


@dataclass(frozen=True)
class AdapterSite:
    """Where the adapter of one slot (attention or MLP) of a block acts, as dotted paths in the block.

    Attributes:
        input: The submodule whose first positional input a sequential adapter (RepAdapter) replaces.
        projection: The linear map that first reads that input; a sequential adapter folds into it.
        weight: The name of the projection's weight parameter.
        bias: The name of the projection's bias parameter.
        branch: The submodule a parallel adapter (Convpass) runs beside; its output gets the branch.
        drop_path: The stochastic-depth layer of that branch, applied to the adapter branch too.
    """
    input: str
    projection: str
    branch: str
    drop_path: str
    weight: str = 'weight'
    bias: str = 'bias'


class FeatureView:
    """How the outputs of one backbone's units become features (one view per backbone and capture).

    The analysis calls it with what a forward hook registered with ``with_kwargs=True`` receives: the
    unit, its positional and keyword inputs, and its output.

    Args:
        backbone (nn.Module): The backbone whose units are read.
    """

    def __init__(self, backbone: nn.Module):
        self.backbone = backbone

    def register_context_hooks(self) -> List[RemovableHandle]:
        """Hooks recording what the view needs besides unit outputs (e.g. the patch grid)."""
        return []

    def image_vector(self, unit: PrunableUnit, args: tuple, kwargs: dict,
                     output: torch.Tensor) -> torch.Tensor:
        """One feature vector per image, ``(B, C)``."""
        raise NotImplementedError

    def token_grid(self, unit: PrunableUnit, args: tuple, kwargs: dict,
                   output: torch.Tensor) -> torch.Tensor:
        """The unit's tokens on their spatial grid, ``(B, C, H, W)``."""
        raise NotImplementedError


class PatchGrid:
    """The patch grid (H, W) of the forward pass in progress, recorded by a hook.

    Families name where the grid comes from (:attr:`BackboneFamily.grid_source`): ``'patch_embed'``,
    the ``(tokens, (H, W))`` a ViT's patch embedding returns; ``'block_input'``, the ``hw_shape``
    argument of each block called as ``block(x, hw_shape)``. Hooks are bound methods of this
    module-level class, so ``copy.deepcopy`` and pickling keep them right.
    """

    def __init__(self):
        self._hw_shape = None

    @property
    def hw_shape(self) -> Tuple[int, int]:
        if self._hw_shape is None:
            raise RuntimeError('No patch grid recorded yet: run the whole backbone, not a block '
                               'alone, before reading its tokens on the patch grid.')
        return self._hw_shape

    def record_embed_output(self, module: nn.Module, args: tuple, output: tuple) -> None:
        """Forward hook for a patch embedding that returns ``(tokens, (H, W))``."""
        self._hw_shape = tuple(output[1])

    def record_block_input(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Forward pre-hook (``with_kwargs=True``) for a block called as ``block(x, hw_shape)``."""
        self._hw_shape = tuple(args[1] if len(args) > 1 else kwargs['hw_shape'])


class PlainConfigError(ValueError):
    """A pruned backbone that its own library's config cannot describe (the reason is the message)."""


class BackboneFamily:
    """One backbone family. Subclass it in a file of :mod:`mmsls.families` and decorate the subclass
    with :func:`mmsls.families.register_family`.

    Recognition is by class name in a module that may not be imported (an instance implies its
    module is loaded), so wrapping an mmpretrain model never imports mmdet or mmseg.
    """

    #: Readable name, used in messages.
    name: str = ''
    #: Module and class of the backbone (subclasses match too).
    module: str = ''
    backbone_class: str = ''
    #: Why a required unit is protected, used in messages.
    required_reason: str = ''
    #: Adapter slots of a block and where each acts; empty for families that take no adapters.
    adapter_sites: Dict[str, AdapterSite] = {}
    #: Why adapters cannot attach, for families without adapter sites.
    no_adapters_reason: str = ''
    #: Where the patch grid comes from: 'patch_embed', 'block_input' or None (feature maps).
    grid_source: Optional[str] = None
    #: The container class holding the kept blocks of a pruned block list.
    pruned_container: type = PrunedLayers

    # --- recognition and units ------------------------------------------------------------------
    def matches(self, backbone: nn.Module) -> bool:
        """Whether ``backbone`` belongs to this family."""
        return is_instance_of(backbone, self.module, self.backbone_class)

    def containers(self, backbone: nn.Module) -> List[str]:
        """Paths (relative to the backbone) of the block lists, in forward order."""
        raise NotImplementedError

    def is_required(self, container: str, position: int) -> bool:
        """Whether the block at ``position`` of ``container`` is a required unit."""
        return False

    def removal_blocker(self, block: nn.Module) -> Optional[str]:
        """Why ``block`` can never be removed (its output shape differs from its input's), or None."""
        return None

    def units(self, backbone: nn.Module) -> List[PrunableUnit]:
        """The current prunable units of ``backbone``, in forward order."""
        units = []
        for path in self.containers(backbone):
            for position, (name, block) in enumerate(backbone.get_submodule(path).named_children()):
                required = self.is_required(path, position) or self.removal_blocker(block) is not None
                units.append(PrunableUnit(f'{path}.{name}', block, required))
        return units

    def original_unit_names(self, backbone: nn.Module) -> List[str]:
        """The unit names of the backbone before any pruning, in forward order."""
        return [f'{path}.{child}' for path in self.containers(backbone)
                for child in original_children(backbone.get_submodule(path))]

    def kept_indices(self, backbone: nn.Module) -> Dict[str, List[int]]:
        """Per block list (path relative to the backbone), the original indices of its kept blocks."""
        return {path: [int(name) for name, _ in backbone.get_submodule(path).named_children()]
                for path in self.containers(backbone)}

    def attributes_after(self, backbone: nn.Module, kept: List[PrunableUnit]) -> Dict[str, object]:
        """Backbone attributes to set once only ``kept`` remain (e.g. ``num_layers``).

        Called before anything changes, so it may refuse a keep set by raising.
        """
        return {}

    # --- adapters and features ------------------------------------------------------------------
    def record_grid(self, backbone: nn.Module, grid: PatchGrid) -> List[RemovableHandle]:
        """Register the hooks that keep ``grid`` up to date during ``backbone``'s forward."""
        if self.grid_source == 'patch_embed':
            return [backbone.patch_embed.register_forward_hook(grid.record_embed_output)]
        if self.grid_source == 'block_input':
            return [unit.module.register_forward_pre_hook(grid.record_block_input, with_kwargs=True)
                    for unit in self.units(backbone)]
        raise TypeError(f'{self.name} outputs feature maps and has no patch grid')

    def feature_view(self, backbone: nn.Module) -> FeatureView:
        """The SLS feature view of ``backbone``."""
        raise NotImplementedError(f'no SLS feature view for the {self.name} family: define '
                                  f'{type(self).__name__}.feature_view in its family file')

    # --- room for deployment (plain configs) and UPDP (linear and merged blocks) -----------------
    def plain_backbone_config(self, backbone_cfg: dict, backbone: nn.Module) -> dict:
        """The backbone config that builds the pruned ``backbone`` without mmsls.

        The plain backbone numbers the kept blocks of each block list ``0, 1, ...`` in forward order
        (:func:`mmsls.apis.deploy.plain_unit_names` renames the weights alike). Only the structure
        changes: ``init_cfg`` and the rest of ``backbone_cfg`` are kept (a new dict is returned).

        Raises:
            PlainConfigError: The library's config cannot express the pruned structure.
        """
        raise PlainConfigError(f'{self.name}: no plain-config export yet')

    # --- UPDP: linear forms and merged blocks (the pieces are in merging.py) -----------------------
    def merge_blocker(self, block: nn.Module) -> Optional[str]:
        """Why ``block`` has no linear/merged form (UPDP), or None.

        Families with merged forms override :meth:`linear_sites` and :meth:`merged_block` and, for
        block variants they cannot fold, this method.
        """
        if isinstance(block, MergedBlock):
            return 'is merged already'
        if type(self).linear_sites is BackboneFamily.linear_sites:
            return (f'belongs to the {self.name} family, which declares no linear form and no merged '
                    f'block (UPDP); define {type(self).__name__}.linear_sites and .merged_block in '
                    'its family file, or remove the block instead')
        return None

    def linear_sites(self, block: nn.Module) -> LinearSites:
        """Where ``block``'s linear form differs from it (activations, norms, faded branches)."""
        raise NotImplementedError(f'no merged form for the {self.name} family: it declares no linear '
                                  f'form of its blocks; define {type(self).__name__}.linear_sites '
                                  'and .merged_block in its family file')

    def merged_block(self, block: nn.Module) -> MergedBlock:
        """The merged block of ``block``'s linear form at blend 1, for eval mode.

        ``block`` is linearised (its norm sites are :class:`~mmsls.families.merging.BlendedNorm`,
        whose BatchNorm statistics are used); the result has ``block``'s device and dtype.
        """
        raise NotImplementedError(f'no merged form for the {self.name} family: define '
                                  f'{type(self).__name__}.merged_block in its family file')


def original_children(container: nn.Module) -> Sequence[str]:
    """The child names a block list had before any pruning."""
    if isinstance(container, PrunedLayers):
        return list(container.original_names)
    return [name for name, _ in container.named_children()]
