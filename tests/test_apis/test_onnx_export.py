"""ONNX export of pruned, adapted tiny models of each scope, checked with onnxruntime."""
import os
import subprocess
import sys

import pytest
import torch

from mmsls.adapters import merge_adapters, named_adapters
from mmsls.apis import init_model
from mmsls.apis.deploy import tensor_outputs
from mmsls.apis.onnx_export import compare_outputs, export_onnx, onnx_session, run_onnx
from ..conftest import REPO, run_tool
from .test_deploy import SCOPES, trained_checkpoint

pytest.importorskip('onnxruntime')


def check_export(model, side, path):
    inputs = torch.randn(2, 3, side, side) + 0.5
    export_onnx(model, inputs, str(path))
    errors = compare_outputs(tensor_outputs(model, inputs), run_onnx(onnx_session(str(path), 1),
                                                                     inputs))
    assert errors['max_ref'] > 0.1  # real outputs, not zeros
    assert errors['max_abs'] < 1e-4 * max(1.0, errors['max_ref'])
    return errors


@pytest.mark.parametrize('scope', sorted(SCOPES))
def test_pruned_merged_model_matches_onnxruntime(scope, tmp_path):
    config, checkpoint = trained_checkpoint(scope, tmp_path)
    model = init_model(str(config), str(checkpoint))
    assert merge_adapters(model) == 2 * len(SCOPES[scope][1])
    check_export(model, SCOPES[scope][0], tmp_path / 'model.onnx')


def test_an_unmerged_repadapter_exports_too(tmp_path):
    # torch.block_diag, which RepAdapter's forward used, has no ONNX export.
    config, checkpoint = trained_checkpoint('mmpretrain', tmp_path)
    model = init_model(str(config), str(checkpoint))
    assert len(list(named_adapters(model))) == 4
    check_export(model, 32, tmp_path / 'unmerged.onnx')


def test_export_tool_checks_and_measures(tmp_path):
    config, checkpoint = trained_checkpoint('mmpretrain', tmp_path)
    stdout = run_tool('export_onnx.py', config, checkpoint, tmp_path / 'model.onnx',
                      '--iters', '2', cwd=tmp_path).stdout
    error = float(stdout.split('max abs error ')[1].split()[0])
    assert error < 1e-4 and (tmp_path / 'model.onnx').stat().st_size > 0
    assert '| model | params | torch 1 thr | onnxruntime 1 thr |' in stdout
    rows = [line for line in stdout.splitlines() if line.startswith(('| unpruned', '| pruned'))]
    assert len(rows) == 3  # unpruned, pruned, and their ratio


def test_export_tool_refuses_to_overwrite_its_checkpoint(tmp_path):
    config = tmp_path / 'config.py'
    config.write_text("model = dict(type='ImageClassifier')\n")
    checkpoint = tmp_path / 'model.onnx'
    checkpoint.write_bytes(b'weights that must survive')
    proc = subprocess.run([sys.executable, str(REPO / 'tools/export_onnx.py'), str(config),
                           str(checkpoint), str(checkpoint)], capture_output=True, text=True,
                          cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode != 0
    assert 'refusing to write' in proc.stderr and 'is an input of this run' in proc.stderr
    assert '--force' in proc.stderr
    assert checkpoint.read_bytes() == b'weights that must survive'
