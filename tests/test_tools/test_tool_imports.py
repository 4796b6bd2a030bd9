"""Tools are thin CLIs over the mmsls package: no tool imports another tool, and none loads a trained
checkpoint past mmsls.apis (no private MMEngine loader)."""
import ast

import pytest

from ..conftest import REPO

TOOLS = sorted((REPO / 'tools').rglob('*.py'))


def _imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f'{node.module}.{alias.name}' for alias in node.names)


@pytest.mark.parametrize('path', TOOLS, ids=lambda path: str(path.relative_to(REPO)))
def test_a_tool_imports_no_tool_and_no_private_loader(path):
    tool_names = {tool.stem for tool in TOOLS}
    modules = set(_imported_modules(path))
    assert not {module.split('.')[0] for module in modules} & tool_names, \
        'move what tools share into the mmsls package'
    assert 'mmengine.runner.checkpoint._load_checkpoint' not in modules, \
        'load trained checkpoints with mmsls.apis.init_model'
