"""Parameter-efficient adapters (RepAdapter, Convpass) for frozen OpenMMLab backbones."""
from .adapted_backbone import AdaptedBackbone
from .attach import (PLACEMENTS, adapted_blocks, adapter_family, attach_adapters, detach_adapter,
                     named_adapters)
from .base import Adapter, ParallelAdapter, SequentialAdapter
from .convpass import Convpass, QuickGELU
from .merge import merge_adapters
from .parameters import ParameterCount, count_parameters
from .repadapter import RepAdapter

__all__ = [
    'AdaptedBackbone', 'Adapter', 'Convpass', 'PLACEMENTS', 'ParallelAdapter', 'ParameterCount',
    'QuickGELU', 'RepAdapter', 'SequentialAdapter', 'adapted_blocks', 'adapter_family',
    'attach_adapters', 'count_parameters', 'detach_adapter', 'merge_adapters', 'named_adapters'
]
