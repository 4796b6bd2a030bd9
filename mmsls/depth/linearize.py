"""UPDP's linear forms and merging on a model: blend chosen units towards their linear form, calibrate
the BatchNorms that stand in for their LayerNorms/GroupNorms, and merge them in place.

Each unit's family says where its linear form differs from the block and how the linear form folds
(:mod:`mmsls.families.merging`, ``BackboneFamily.linear_sites`` / ``merged_block``); this module does
it for the units of a model, named as everywhere in :mod:`mmsls.depth` (``'stages.2.1'``) or by
position into :func:`~mmsls.depth.prunable_units`.

- :class:`LinearizedBlocks` swaps each activation site for a :class:`BlendedActivation` and each norm
  site for a :class:`BlendedNorm` (which keeps the norm's own state-dict keys and adds ``bn.*``), and
  scales faded branches with a forward hook. The blend can differ per unit (the supernet phase runs
  some units linear and others not). :meth:`LinearizedBlocks.detach` puts the original modules back.
- :func:`linearized` is the same as a context manager.
- :func:`merge_blocks` replaces each unit, in place, by the merged block of its linear form at blend
  1: with the stand-ins' statistics where the unit is linearised, else with fresh stand-ins (affine
  from the norm, identity statistics). In eval mode the model's outputs then equal those under
  ``linearized(model, units, 1.0)``.
"""
import operator
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import torch
from torch import nn

from mmsls.families.merging import (BlendedActivation, BlendedNorm, BranchScale, MergedBlock,
                                    build_merged_block)
from .api import find_backbone, prunable_units

UnitsSpec = Sequence[Union[str, int]]


def unit_names(model: nn.Module, units: UnitsSpec) -> List[str]:
    """``units`` (unit names and/or positions into ``prunable_units(model)``) as names in forward
    order, or a clear error."""
    current = [unit.name for unit in prunable_units(model)]
    listing = (f'the model\'s units are {current} (positions 0..{len(current) - 1})')
    if isinstance(units, (str, bytes)) or not isinstance(units, (list, tuple)) or not units:
        raise ValueError(f'units must be a non-empty list of unit names (e.g. "{current[-1]}") or '
                         f'int positions into prunable_units(model), got {units!r}; {listing}')
    names = []
    for entry in units:
        if isinstance(entry, str):
            if entry not in current:
                raise ValueError(f'{entry!r} is not a prunable unit of this model; {listing}')
            names.append(entry)
            continue
        try:
            position = operator.index(entry)
        except TypeError:
            raise ValueError(f'units lists {entry!r}, which is neither a unit name nor an int '
                             f'position; {listing}') from None
        if isinstance(entry, bool) or not 0 <= position < len(current):
            raise ValueError(f'units lists position {entry!r}, which is not a unit; {listing}')
        names.append(current[position])
    if len(set(names)) != len(names):
        raise ValueError(f'units names a block twice ({units!r} -> {names}); list each unit once')
    return [name for name in current if name in names]


def check_mergeable(model: nn.Module, names: Iterable[str]) -> None:
    """Refuse units without a merged form, naming the unit, the reason and the way out."""
    family, backbone = find_backbone(model)
    for name in names:
        reason = family.merge_blocker(backbone.get_submodule(name))
        if reason:
            raise ValueError(f'unit {name} has no merged form: it {reason}. Choose other units, or '
                             "remove this one (ProgressiveDepthHook(mode='remove'))")


class LinearizedBlocks:
    """Units of a model blended towards their linear form (UPDP), until :meth:`detach`.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        units (Sequence[str | int]): Unit names or positions into ``prunable_units(model)``.
        blend (float): The initial blend of every unit, in [0, 1]. Defaults to 0.
    """

    def __init__(self, model: nn.Module, units: UnitsSpec, blend: float = 0.0):
        _check_blend(blend)
        family, backbone = find_backbone(model)
        self.names = unit_names(model, units)
        check_mergeable(model, self.names)
        for name in self.names:
            if is_linearized(backbone.get_submodule(name)):
                raise ValueError(f'unit {name} is linearised already (by another LinearizedBlocks or '
                                 'ProgressiveDepthHook); detach that first')
        self._swapped: Dict[str, list] = {}   # unit -> [(parent, attribute, original module)]
        self._handles: Dict[str, list] = {}
        self._sites: Dict[str, list] = {}
        for name in self.names:
            block = backbone.get_submodule(name)
            sites = family.linear_sites(block)
            blends, self._swapped[name], self._handles[name] = [], [], []
            for path in sites.activations:
                blends.append(self._swap(name, block, path, BlendedActivation))
            for path in sites.norms:
                blends.append(self._swap(name, block, path, BlendedNorm))
            for path in sites.branches:
                scale = BranchScale()
                self._handles[name].append(block.get_submodule(path).register_forward_hook(scale))
                blends.append(scale)
            self._sites[name] = blends
        self.set_blend(blend)

    def _swap(self, name: str, block: nn.Module, path: str, wrapper) -> nn.Module:
        parent_path, _, attribute = path.rpartition('.')
        parent = block.get_submodule(parent_path)
        original = getattr(parent, attribute)
        blended = wrapper(original)
        blended.train(original.training)
        setattr(parent, attribute, blended)
        self._swapped[name].append((parent, attribute, original))
        return blended

    @property
    def blends(self) -> Dict[str, float]:
        """Unit name -> its current blend."""
        return {name: (sites[0].blend if sites else 1.0) for name, sites in self._sites.items()}

    @property
    def blend(self) -> float:
        """The blend shared by every unit (an error if they differ)."""
        values = set(self.blends.values())
        if len(values) != 1:
            raise ValueError(f'the units have different blends {self.blends}; read .blends')
        return values.pop()

    @blend.setter
    def blend(self, value: float) -> None:
        self.set_blend(value)

    def set_blend(self, value: float, names: Optional[Iterable[str]] = None) -> None:
        """Set the blend of ``names`` (default: every unit) to ``value`` in [0, 1]."""
        _check_blend(value)
        for name in self.names if names is None else names:
            if name not in self._sites:
                raise ValueError(f'{name} is not one of the linearised units {self.names}')
            for site in self._sites[name]:
                site.blend = float(value)

    def norms(self, names: Optional[Iterable[str]] = None) -> List[BlendedNorm]:
        """The BatchNorm stand-ins (as their :class:`BlendedNorm`) of ``names`` (default: all)."""
        names = self.names if names is None else list(names)
        return [site for name in names for site in self._sites[name] if isinstance(site, BlendedNorm)]

    def parameters(self, names: Optional[Iterable[str]] = None) -> List[nn.Parameter]:
        """The parameters the linear forms of ``names`` (default: all) add: the stand-ins' affine."""
        return [param for norm in self.norms(names) for param in norm.bn.parameters()]

    def forget(self, names: Iterable[str]) -> None:
        """Stop tracking ``names`` (they were merged: their modules left the model)."""
        names = set(names)
        for name in names:
            for store in (self._sites, self._swapped, self._handles):
                store.pop(name, None)
        self.names = [name for name in self.names if name not in names]

    def detach(self, names: Optional[Iterable[str]] = None) -> None:
        """Put the original activations and norms of ``names`` (default: every unit) back and remove
        their branch hooks; the stand-ins go."""
        names = list(self._sites) if names is None else list(names)
        for name in names:
            for parent, attribute, original in reversed(self._swapped.get(name, [])):
                setattr(parent, attribute, original)
            for handle in self._handles.get(name, []):
                handle.remove()
        self.forget(names)


@contextmanager
def linearized(model: nn.Module, units: UnitsSpec, blend: float = 1.0) -> Iterator[LinearizedBlocks]:
    """Run ``model`` with ``units`` blended towards their linear form by ``blend``, then restore them.

    At ``blend=1`` each unit is its linear form: activations are the identity, LayerNorm/GroupNorm are
    BatchNorms (identity statistics unless calibrated with :func:`calibrate_linearized` inside the
    block), and faded branches (a ViT block's attention) are gone.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        units (Sequence[str | int]): Unit names or positions into ``prunable_units(model)``.
        blend (float): In [0, 1]. Defaults to 1.
    """
    blocks = LinearizedBlocks(model, units, blend)
    try:
        yield blocks
    finally:
        blocks.detach()


def calibrate_linearized(model: nn.Module, blocks: LinearizedBlocks,
                         inputs: Iterable[torch.Tensor]) -> int:
    """Set the statistics of the BatchNorm stand-ins of ``blocks`` from backbone inputs.

    Runs the backbone on each input batch without gradients, every other module in eval mode, the
    stand-ins in train mode with a cumulative average (``momentum=None``), at the current blends; the
    model's modes and the stand-ins' momentum are restored afterwards.

    Args:
        model (nn.Module): The model ``blocks`` linearises.
        blocks (LinearizedBlocks): The linearised units.
        inputs (Iterable[Tensor]): Preprocessed input batches for the backbone.

    Returns:
        int: The number of batches seen.
    """
    norms = blocks.norms()
    if not norms:
        return 0
    _, backbone = find_backbone(model)
    modes = {module: module.training for module in backbone.modules()}
    momenta = [norm.bn.momentum for norm in norms]
    count = 0
    try:
        backbone.eval()
        for norm in norms:
            norm.bn.reset_running_stats()
            norm.bn.momentum = None
            norm.bn.train()
            norm.calibrating = True
        with torch.no_grad():
            for batch in inputs:
                backbone(batch)
                count += 1
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.bn.momentum = momentum
            norm.calibrating = False
        for module, training in modes.items():
            module.training = training
    if count == 0:
        raise ValueError('calibrate_linearized got no input batch: give at least one')
    return count


def is_linearized(block: nn.Module) -> bool:
    """Whether ``block`` holds blended activations or norms."""
    return any(isinstance(module, (BlendedActivation, BlendedNorm)) for module in block.modules())


def merge_blocks(model: nn.Module, units: UnitsSpec) -> Dict[str, MergedBlock]:
    """Replace each unit, in place, by the merged block of its linear form at blend 1.

    A linearised unit (inside :func:`linearized`, or faded by ``ProgressiveDepthHook``) merges with
    its stand-ins' BatchNorm statistics; another one with fresh stand-ins (affine from the norm,
    identity statistics). The merged block has the unit's name, device, dtype and train/eval mode,
    and the depth record (:func:`mmsls.depth.depth_structure`) lists it, so checkpoints re-apply it.

    Args:
        model (nn.Module): A model, a wrapped model, or a backbone.
        units (Sequence[str | int]): Unit names or positions into ``prunable_units(model)``.

    Returns:
        dict[str, MergedBlock]: Unit name -> its merged block.
    """
    family, backbone = find_backbone(model)
    names = unit_names(model, units)
    check_mergeable(model, names)
    merged = {}
    for name in names:
        block = backbone.get_submodule(name)
        with torch.no_grad():
            if is_linearized(block):
                module = family.merged_block(block)
            else:
                with linearized(backbone, [name], 1.0):
                    module = family.merged_block(block)
        module.train(block.training)
        replace_unit(backbone, name, module)
        merged[name] = module
    return merged


def replace_unit(backbone: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` where unit ``name`` of ``backbone`` is (same name, same position)."""
    parent, _, attribute = name.rpartition('.')
    setattr(backbone.get_submodule(parent), attribute, module)


def merged_units(model: nn.Module) -> Dict[str, dict]:
    """Unit name -> spec of every merged unit of the model (for the depth record)."""
    return {unit.name: unit.module.spec() for unit in prunable_units(model)
            if isinstance(unit.module, MergedBlock)}


def apply_merged_structure(model: nn.Module, merged: Dict[str, dict]) -> Dict[str, MergedBlock]:
    """Replace the units named in ``merged`` (name -> spec) by merged blocks built from their spec
    (placeholder weights: load the checkpoint next). Units already merged alike stay."""
    _, backbone = find_backbone(model)
    built = {}
    for name, spec in merged.items():
        block = backbone.get_submodule(name)
        if isinstance(block, MergedBlock) and block.spec() == spec:
            continue
        module = build_merged_block(spec)
        reference = next(block.parameters(), None)
        if reference is not None:
            module.to(device=reference.device, dtype=reference.dtype)
        module.train(block.training)
        replace_unit(backbone, name, module)
        built[name] = module
    return built


def _check_blend(value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f'blend must be a number in [0, 1] (0: the block, 1: its linear form), got '
                         f'{value!r}')
