"""Issue 16, case 5: an adapter ``scale`` of nan, inf or a string was accepted (``loss: nan``, exit 0;
a string failed only at the first forward). It is checked when the adapter is built."""
import numpy as np
import pytest
from mmengine.registry import MODELS, DefaultScope

from mmsls.adapters import Convpass, RepAdapter

BAD_SCALES = [float('nan'), float('inf'), -float('inf'), 'a', None, True, [1.0]]


@pytest.mark.parametrize('adapter', [RepAdapter, Convpass])
@pytest.mark.parametrize('scale', BAD_SCALES, ids=repr)
def test_bad_scale_is_refused_at_construction(adapter, scale):
    with pytest.raises((TypeError, ValueError), match=f'{adapter.__name__} scale must be a finite '
                       'number'):
        adapter(embed_dims=16, scale=scale)


@pytest.mark.parametrize('adapter', [RepAdapter, Convpass])
def test_numeric_scales_are_kept_as_floats(adapter):
    for scale in (2, np.float32(0.5), -1.0, 0.0):
        built = adapter(embed_dims=16, scale=scale)
        assert type(built.scale) is float and built.scale == float(scale)


def test_bad_scale_in_a_config_fails_when_the_model_is_built():
    with DefaultScope.overwrite_default_scope('mmpretrain'), pytest.raises(
            Exception, match='RepAdapter scale must be a finite number'):
        MODELS.build(dict(
            type='mmsls.AdaptedBackbone',
            backbone=dict(type='VisionTransformer', img_size=32, patch_size=8,
                          arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                    feedforward_channels=64)),
            adapter=dict(type='RepAdapter', scale='0.5')))
