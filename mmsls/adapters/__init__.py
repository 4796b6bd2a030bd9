"""Parameter-efficient adapters (RepAdapter, Convpass) for frozen OpenMMLab backbones."""
from .adapted_backbone import AdaptedBackbone
from .attach import (FAMILIES, attach_adapters, detach_adapter, find_family, named_adapters,
                     supported_backbones)
from .convpass import Convpass, QuickGELU
from .merge import merge_adapters
from .parameters import ParameterCount, count_parameters
from .repadapter import RepAdapter

__all__ = [
    'AdaptedBackbone', 'Convpass', 'FAMILIES', 'ParameterCount', 'QuickGELU', 'RepAdapter',
    'attach_adapters', 'count_parameters', 'detach_adapter', 'find_family', 'merge_adapters',
    'named_adapters', 'supported_backbones'
]
