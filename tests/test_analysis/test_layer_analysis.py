"""The analysis of a model end to end in-process: capture, criterion, decision, report."""
import json

import numpy as np
import pytest

from mmsls.analysis import (analyze_layers, capture_layer_features, format_score_table,
                            write_analysis)
from mmsls.criteria import depth_from_scores, select_depth
from .conftest import tiny_model_and_dataset

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def analysis(tiny_data_dir):
    model, dataset, _ = tiny_model_and_dataset('mmpretrain', tiny_data_dir, adapted=True)
    return analyze_layers(model, dataset, alpha=0.3, num_samples=24, backend='sklearn',
                          return_embeddings=True, progress=False)


def test_scores_are_the_criterion_on_the_captured_features(tiny_data_dir, analysis):
    model, dataset, _ = tiny_model_and_dataset('mmpretrain', tiny_data_dir, adapted=True)
    captured = capture_layer_features(model, dataset, num_samples=24, progress=False)
    expected = select_depth(captured.features, captured.labels, alpha=0.3, backend='sklearn')
    np.testing.assert_allclose(analysis.scores, expected.scores)
    assert analysis.selection.kept_depth == expected.kept_depth
    assert len(analysis.selection.embeddings) == 4
    assert analysis.num_images == 24 and analysis.task == 'classification'


@pytest.mark.parametrize('alpha', [0.1, 0.3, 0.9, 1.0])
def test_decision_is_the_sls_rule(analysis, alpha):
    decision = analysis.decision(alpha)
    kept_depth, threshold = depth_from_scores(analysis.scores, alpha)
    assert decision == dict(alpha=alpha, threshold=threshold, kept_depth=kept_depth)


def test_report_files(analysis, tmp_path):
    paths = write_analysis(str(tmp_path), analysis, alphas=[0.1, 0.5], extra=dict(note='x'))
    record = json.loads((tmp_path / 'sls_scores.json').read_text())
    assert record['alpha'] == 0.3 and record['note'] == 'x'
    assert record['units'] == ['layers.0', 'layers.1', 'layers.2', 'layers.3']
    assert record['scores'] == pytest.approx(analysis.scores)
    assert [d['alpha'] for d in record['decisions']] == [0.3, 0.1, 0.5]
    for decision in record['decisions']:
        assert (decision['kept_depth'], decision['threshold']) == pytest.approx(
            depth_from_scores(record['scores'], decision['alpha']))
    assert record['kept_depth'] == record['decisions'][0]['kept_depth']
    assert record['num_samples'] == 24 and record['samples_per_class'] == {'0': 8, '1': 8, '2': 8}
    assert record['backend'] == 'sklearn' and set(record['time']) == {'capture_s', 'scoring_s'}
    for key in ('scores_png', 'tsne_png'):
        assert open(paths[key], 'rb').read(8) == PNG_MAGIC


def test_score_table(analysis):
    table = format_score_table(analysis, [0.3, 1.0], required=[True, False, False, True])
    lines = table.splitlines()
    assert lines[0].split() == ['layer', 'unit', 'score', 'a=0.3', 'a=1']
    rows = [line.split() for line in lines[2:6]]
    for layer, row in enumerate(rows, start=1):
        assert row[:2] == [str(layer), f'layers.{layer - 1}']
        assert float(row[2]) == pytest.approx(analysis.scores[layer - 1], abs=1e-4)
        for column, alpha in zip(row[3:], [0.3, 1.0]):
            depth = analysis.decision(alpha)['kept_depth']
            expected = 'kept' if layer <= depth else 'required' if layer == 4 else 'pruned'
            assert column == expected
    assert f'kept depth {analysis.decision(0.3)["kept_depth"]} of 4' in lines[-2]
