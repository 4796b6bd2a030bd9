"""The Swin families: mmdet's ``SwinTransformer`` (the RetinaNet Swin-T backbone) and mmpretrain's.

Both hold ``stages.s.blocks`` and end each stage in an optional ``downsample``, and both call a block
as ``block(x, hw_shape)``, so one family describes them; they differ only in the class matched.

Units are the blocks of all stages in forward order (``stages.s.blocks.b``). Every ``PatchMerging``
stays, and a block never changes the token shape, so each stage's output shape is unchanged and the
FPN still fits. The first block of each stage is a required unit: only ``allow_empty_stages=True``
removes it; a stage without blocks passes its input features on, through its patch merging and its
output norm.

Each kept block keeps its own ``shift_size``: its attention weights were trained with that window
shift, and changing it would change what the block computes. So after removing block 1 of a stage, two
non-shifted blocks may follow each other; that is what keeps every kept block's trained behaviour.

Adapters: a block computes ``x + attn(norm1(x), hw_shape)`` then ``x + ffn(norm2(x))``. The RepAdapter
of the attention acts on the input of ``attn.w_msa``, i.e. on the windows after padding, cyclic shift
and partition, rather than on ``norm1(x)``. A token-wise map commutes with shift and partition, so this
is the published placement; it also adapts the zero tokens that pad H, W up to a multiple of the window
size exactly as ``w_msa.qkv`` sees them after merging, so the merged model equals the unmerged one for
every input size. A Convpass runs beside ``attn`` and ``ffn`` on each block's ``hw_shape``.

Features: one vector per image is the average-pooled block output; for the last block of a stage that
ends in a patch merging layer, the pooled tokens after that layer (what the next stage reads). (The
public SLS code applies the stage's patch merging to every block of such a stage; we keep the merging
where the network itself applies it.) The token grid is the block output on ``hw_shape``.
"""
import copy
from typing import List, Tuple

from torch import nn

from .base import AdapterSite, BackboneFamily, FeatureView, PlainConfigError
from .registry import register_family
from .vit import MMCV_FFN_SITE


class SwinBlocksView(FeatureView):
    """Blocks called as ``block(x, hw_shape)``, stages ending in an optional ``downsample``."""

    @staticmethod
    def _hw_shape(args: tuple, kwargs: dict) -> Tuple[int, int]:
        return tuple(args[1] if len(args) > 1 else kwargs['hw_shape'])

    def image_vector(self, unit, args, kwargs, output):
        hw_shape = self._hw_shape(args, kwargs)
        stage = self.backbone.get_submodule(unit.container.rpartition('.')[0])
        last_block = list(stage.blocks)[-1]
        if stage.downsample is not None and unit.module is last_block:
            output, _ = stage.downsample(output, hw_shape)
        return output.mean(dim=1)

    def token_grid(self, unit, args, kwargs, output):
        batch, _, channels = output.shape
        return output.transpose(1, 2).reshape(batch, channels, *self._hw_shape(args, kwargs))


@register_family
class MMDetSwinFamily(BackboneFamily):
    """mmdet ``SwinTransformer``: the blocks of every stage; the first block of a stage is required."""

    name = 'mmdet SwinTransformer'
    module = 'mmdet.models.backbones.swin'
    backbone_class = 'SwinTransformer'
    required_reason = 'the first block of its stage'
    grid_source = 'block_input'
    # attn is ShiftWindowMSA(query, hw_shape); its w_msa(windows) holds qkv (see the module docstring).
    adapter_sites = dict(
        adapter_attn=AdapterSite(input='attn.w_msa', projection='attn.w_msa.qkv', branch='attn',
                                 drop_path='attn.drop'),
        adapter_mlp=MMCV_FFN_SITE)

    def containers(self, backbone: nn.Module) -> List[str]:
        return [f'stages.{index}.blocks' for index in range(len(backbone.stages))]

    def is_required(self, container: str, position: int) -> bool:
        return position == 0

    def feature_view(self, backbone: nn.Module) -> FeatureView:
        return SwinBlocksView(backbone)

    def plain_depths(self, backbone: nn.Module) -> List[int]:
        """The kept blocks per stage, refused where a plain config would shift other windows.

        A plain Swin shifts the windows of the blocks at odd positions of a stage; a kept block
        keeps its own shift, so it must stay at a position of its parity.
        """
        depths = []
        for stage, kept in enumerate(self.kept_indices(backbone).values()):
            moved = [index for position, index in enumerate(kept) if (index - position) % 2]
            if moved:
                raise PlainConfigError(
                    f'{self.name} stage {stage} keeps blocks {kept}: in a plain config block '
                    f'{moved[0]} would sit at a position whose window shift differs from the one '
                    'it was trained with (odd positions shift), so no `depths` describes this '
                    'model. Keep the mmsls config and its depth record, or keep blocks whose '
                    'parity matches their position (a prefix of each stage always does)')
            depths.append(len(kept))
        return depths

    def plain_backbone_config(self, backbone_cfg: dict, backbone: nn.Module) -> dict:
        """``depths``: the kept blocks per stage (see :meth:`plain_depths`)."""
        cfg = copy.deepcopy(dict(backbone_cfg))
        cfg['depths'] = self.plain_depths(backbone)
        return cfg


@register_family
class MMPretrainSwinFamily(MMDetSwinFamily):
    """mmpretrain ``SwinTransformer`` (classification, Swin-T/S/B): as :class:`MMDetSwinFamily`; its
    blocks and ``ShiftWindowMSA`` have the same structure."""

    name = 'mmpretrain SwinTransformer'
    module = 'mmpretrain.models.backbones.swin_transformer'

    def plain_backbone_config(self, backbone_cfg: dict, backbone: nn.Module) -> dict:
        """``arch`` with the kept ``depths`` (an arch name becomes its settings); per-block
        ``block_cfgs`` of a per-stage ``stage_cfgs`` keep the kept blocks'."""
        depths = self.plain_depths(backbone)
        cfg = copy.deepcopy(dict(backbone_cfg))
        cfg['arch'] = dict(backbone.arch_settings, depths=depths)
        stage_cfgs = cfg.get('stage_cfgs')
        if isinstance(stage_cfgs, (list, tuple)):
            for stage_cfg, kept in zip(stage_cfgs, self.kept_indices(backbone).values()):
                if isinstance(stage_cfg.get('block_cfgs'), (list, tuple)):
                    stage_cfg['block_cfgs'] = [stage_cfg['block_cfgs'][index] for index in kept]
        return cfg
