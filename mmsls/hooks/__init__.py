"""Thin glue between mmsls and MMEngine's Runner; importing a module registers its hooks."""
from .depth_structure import DepthStructureHook
from .progressive_depth import ProgressiveDepthHook, fade_blend
from .runner_pruning import PruneDepthHook, prune_runner_model
from .sls_hook import SLSHook

__all__ = ['DepthStructureHook', 'PruneDepthHook', 'ProgressiveDepthHook', 'SLSHook', 'fade_blend',
           'prune_runner_model']
