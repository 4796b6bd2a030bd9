"""AdaptedBackbone: an OpenMMLab backbone with adapters, frozen, under its plain key names."""
import logging
from typing import List, Optional, Tuple, Union

from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit, initialize
from torch import nn

from mmsls.compat import register_load_state_dict_pre_hook, register_state_dict_post_hook
from mmsls.registry import MODELS
from .attach import attach_adapters, named_adapters
from .merge import merge_adapters
from .parameters import count_parameters

INNER = 'backbone.'


def _strip_inner_prefix(module: nn.Module, state_dict: dict, prefix: str,
                        local_metadata: dict) -> None:
    """State-dict post-hook: ``<prefix>backbone.<key>`` -> ``<prefix><key>``, in place."""
    inner = prefix + INNER
    for key in [key for key in state_dict if key.startswith(inner)]:
        state_dict[prefix + key[len(inner):]] = state_dict.pop(key)


def _add_inner_prefix(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load pre-hook: ``<prefix><key>`` -> ``<prefix>backbone.<key>``, in place.

    Every key under the wrapper belongs to the inner backbone: the wrapper has no state of its own.
    """
    for key in [key for key in state_dict if key.startswith(prefix)]:
        state_dict[prefix + INNER + key[len(prefix):]] = state_dict.pop(key)


@MODELS.register_module()
class AdaptedBackbone(BaseModule):
    """Wraps an OpenMMLab backbone, attaches adapters to its blocks and freezes its weights.

    In a config, wrap the original backbone dict::

        backbone=dict(type='mmsls.AdaptedBackbone',
                      backbone=<the original backbone dict>,
                      adapter=dict(type='RepAdapter', scale=0.1))

    Supported backbones: every family with adapter sites (:mod:`mmsls.families`): mmpretrain
    ``VisionTransformer`` (incl. DeiT archs) and ``SwinTransformer``, mmdet ``SwinTransformer``, mmseg
    ``VisionTransformer``. The inner backbone is built in the config's
    default scope (or name it with a scope, e.g. ``type='mmdet.SwinTransformer'``) and kept as
    ``self.backbone``; adapters become children of its blocks (see :mod:`mmsls.adapters.base`).

    The state dict uses the plain backbone's key names, so a plain model's checkpoint loads
    (through ``load_from`` or a ``Pretrained`` init_cfg, of the inner backbone or of this wrapper)
    and checkpoints look like the plain model's plus ``adapter_attn``/``adapter_mlp`` keys.
    ``named_parameters()`` still shows the module path (``backbone.backbone.layers.0...``).

    Freezing sets ``requires_grad=False`` on every backbone parameter except the adapters' (and the
    biases with ``train_bias``). The supported backbones normalise with LayerNorm, which has no
    running statistics, so frozen norms need no eval mode; dropout and drop-path in the frozen
    backbone stay active in training, as in the published recipes.

    Args:
        backbone (dict): Config of the backbone to adapt.
        adapter (dict): Config of the adapter attached per block: ``type='RepAdapter'`` or
            ``'Convpass'`` and its arguments except ``embed_dims``.
        placement (str): ``'attn_mlp'`` (adapters on attention and MLP) or ``'attn'`` (attention
            only). Defaults to ``'attn_mlp'``.
        train_bias (bool): Also train every bias of the backbone (the RepAdapter segmentation
            recipe). Defaults to False.
        frozen (bool): Freeze the backbone's own parameters. Defaults to True.
        init_cfg (dict | list[dict], optional): Init config of the wrapper; a ``Pretrained`` entry
            loads a plain or adapted checkpoint after the adapters are initialised.
    """

    def __init__(self,
                 backbone: dict,
                 adapter: dict,
                 placement: str = 'attn_mlp',
                 train_bias: bool = False,
                 frozen: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        for name, cfg in (('backbone', backbone), ('adapter', adapter)):
            if not isinstance(cfg, dict):
                raise TypeError(f'AdaptedBackbone {name} must be a config dict, '
                                f'got {type(cfg).__name__}')
        # A ConfigDict (a copy), as from a config file: some backbones read init_cfg by attribute.
        self.backbone = MODELS.build(ConfigDict(backbone))
        self.family = attach_adapters(self.backbone, adapter, placement)
        self.placement = placement
        self.train_bias = train_bias
        self.frozen = frozen
        register_state_dict_post_hook(self, _strip_inner_prefix)  # torch < 2.5: mmsls.compat
        register_load_state_dict_pre_hook(self, _add_inner_prefix)
        self.freeze()

    def forward(self, x):
        return self.backbone(x)

    def adapters(self) -> List[nn.Module]:
        """The adapter modules, in block order."""
        return [module for _, module in named_adapters(self.backbone)]

    def freeze(self) -> None:
        """Set which backbone parameters train: adapters always, biases with ``train_bias``, the
        rest only if not ``frozen``."""
        adapter_params = {id(p) for adapter in self.adapters() for p in adapter.parameters()}
        for name, param in self.backbone.named_parameters():
            param.requires_grad = (not self.frozen or id(param) in adapter_params
                                   or (self.train_bias and name.endswith('bias')))

    def init_weights(self) -> None:
        """Initialise in this order: the wrapper's non-``Pretrained`` init_cfg, the inner backbone
        (its own init_cfg, e.g. ``Pretrained``), the adapters (published init, undoing any generic
        init above that reached them), then the wrapper's ``Pretrained`` init_cfg. Logs the
        trainable parameter count."""
        if self.is_init:
            print_log('init_weights of AdaptedBackbone has been called more than once.',
                      logger='current', level=logging.WARNING)
            return
        init_cfgs = self.init_cfg or []
        if isinstance(init_cfgs, dict):
            init_cfgs = [init_cfgs]
        pretrained = [cfg for cfg in init_cfgs if _is_pretrained(cfg)]
        others = [cfg for cfg in init_cfgs if not _is_pretrained(cfg)]
        if others:
            initialize(self, others)
        self.backbone.init_weights()
        for adapter in self.adapters():
            adapter.reset_parameters()
        if pretrained:
            initialize(self, pretrained)
        self._is_init = True
        count = count_parameters(self.backbone)
        in_adapters = sum(p.numel() for adapter in self.adapters() for p in adapter.parameters())
        print_log(
            f'AdaptedBackbone ({self.family.name}): {count.trainable:,} of {count.total:,} '
            f'backbone parameters trainable ({in_adapters:,} in {len(self.adapters())} adapters).',
            logger='current')

    def merge_and_unload(self) -> nn.Module:
        """Fold every adapter into the backbone and return the plain backbone (as peft's
        ``merge_and_unload``). Its parameters keep their ``requires_grad`` flags.

        Raises:
            ValueError: If an adapter cannot be folded (Convpass is not linear); nothing is changed.
        """
        merge_adapters(self.backbone, strict=True)
        return self.backbone

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer depth of a parameter for layer-wise lr decay, from the inner backbone (whose
        ``get_layer_depth`` it needs): parameter names carry the inner ``backbone.`` prefix."""
        return self.backbone.get_layer_depth(param_name, prefix + INNER)


def _is_pretrained(cfg: dict) -> bool:
    return cfg['type'] in ('Pretrained', PretrainedInit)
