"""mmsls classes are reachable from configs of every OpenMMLab scope, with both spellings."""
import subprocess
import sys
import textwrap

import pytest
from mmengine.registry import HOOKS as ROOT_HOOKS
from mmengine.registry import MODELS as ROOT_MODELS

from mmsls.registry import DATASETS, HOOKS, MODELS, TRANSFORMS

from .conftest import REPO

# A tiny plain backbone of each scope, wrapped by mmsls.AdaptedBackbone.
INNER_BACKBONES = {
    'mmpretrain': "dict(type='VisionTransformer', arch=dict(embed_dims=32, num_layers=2, "
                  "num_heads=2, feedforward_channels=64), img_size=32, patch_size=8)",
    'mmdet': "dict(type='SwinTransformer', embed_dims=16, depths=(1, 1, 1, 1), "
             "num_heads=(1, 1, 2, 2), window_size=4, out_indices=(1, 2, 3))",
    'mmseg': "dict(type='VisionTransformer', img_size=(32, 32), patch_size=8, embed_dims=32, "
             "num_layers=2, num_heads=2, out_indices=(0, 1))",
}
EXPECTED_INNER = {'mmpretrain': 'mmpretrain.models.backbones.vision_transformer',
                  'mmdet': 'mmdet.models.backbones.swin',
                  'mmseg': 'mmseg.models.backbones.vit'}


def test_registries_are_scoped_children_of_the_root():
    for registry in (MODELS, HOOKS, DATASETS, TRANSFORMS):
        assert registry.scope == 'mmsls'
        assert registry.parent is not None and registry.parent.scope == 'mmengine'
    assert MODELS.parent is ROOT_MODELS and HOOKS.parent is ROOT_HOOKS


@pytest.mark.parametrize('scope', sorted(INNER_BACKBONES))
def test_both_spellings_from_a_config_of_each_scope(scope, tmp_path):
    """In a fresh interpreter: ``type='mmsls.X'`` with nothing imported, then ``custom_imports``."""
    scoped = tmp_path / 'scoped.py'
    scoped.write_text(textwrap.dedent(f"""\
        default_scope = '{scope}'
        backbone = dict(type='mmsls.AdaptedBackbone', backbone={INNER_BACKBONES[scope]},
                        adapter=dict(type='RepAdapter'))
        hook = dict(type='mmsls.DepthStructureHook')
        """))
    plain = tmp_path / 'plain.py'
    plain.write_text(textwrap.dedent(f"""\
        default_scope = '{scope}'
        custom_imports = dict(imports=['mmsls'], allow_failed_imports=False)
        backbone = dict(type='AdaptedBackbone', backbone={INNER_BACKBONES[scope]},
                        adapter=dict(type='Convpass'))
        hook = dict(type='DepthStructureHook')
        """))
    script = textwrap.dedent(f"""\
        import sys
        from mmengine.config import Config
        from mmengine.registry import HOOKS, MODELS, init_default_scope

        for path, adapter in (({str(scoped)!r}, 'RepAdapter'), ({str(plain)!r}, 'Convpass')):
            if path.endswith('scoped.py'):
                assert 'mmsls' not in sys.modules, 'mmsls imported before the scoped lookup'
            cfg = Config.fromfile(path)
            init_default_scope(cfg.default_scope)
            backbone = MODELS.build(cfg.backbone)
            hook = HOOKS.build(cfg.hook)
            adapters = [type(m).__name__ for m in backbone.modules()
                        if type(m).__name__ == adapter]
            print(type(backbone).__name__, type(backbone.backbone).__module__,
                  type(hook).__name__, len(adapters))
        """)
    proc = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()[-2:]
    assert len(lines) == 2
    for line in lines:
        wrapper, inner_module, hook, num_adapters = line.split()
        assert (wrapper, inner_module, hook) == ('AdaptedBackbone', EXPECTED_INNER[scope],
                                                 'DepthStructureHook')
        assert int(num_adapters) > 0
