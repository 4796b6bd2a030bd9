"""Issue 16, case 4: ``select_depth`` on layers without variation or with huge values.

Before, sklearn's and the fast backend's t-SNE crashed the process (exit 139) on a layer of identical
rows, all zeros or values around 1e-30, and values around 1e30 scored 0 everywhere. Now flat layers
score 0 ("no separation") with a warning on every backend, and huge values are refused, naming the
layer. The crash case runs in a child process, so that a regression fails this test instead of
killing the test run.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mmsls.criteria import select_depth
from ..conftest import REPO

# Two layers of clustered features (3 classes, 10 samples each) around a flat one: whatever the
# other scores, the walk down from the top stops at the flat layer (0 < alpha * top score): keeps 3.
SCRIPT = '''
import json, sys, warnings
import numpy as np
from mmsls.criteria import TSNESettings, select_depth

labels = np.repeat(np.arange(3), 10)
rng = np.random.default_rng(0)
def clustered():
    return np.eye(3)[labels] * 10 + rng.normal(size=(30, 3))
flat = dict(identical_rows=np.tile(rng.normal(size=(1, 8)), (30, 1)), all_zero=np.zeros((30, 8)),
            tiny=1e-30 * rng.normal(size=(30, 8)), offset=1e8 + 1e-4 * rng.normal(size=(30, 8)))
results = {}
for name, layer in flat.items():
    for backend in ('sklearn', 'fast', 'torch'):
        options = dict(num_workers=2) if backend == 'fast' else {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            selection = select_depth([clustered(), layer, clustered()], labels,
                                     backend=backend, tsne=TSNESettings(perplexity=5, max_iter=300),
                                     **options)
        results[f'{name}/{backend}'] = dict(
            kept_depth=selection.kept_depth, scores=selection.scores,
            warnings=[str(w.message) for w in caught if 'Layer 2' in str(w.message)])
print(json.dumps(results))
'''


def test_flat_layers_score_zero_on_every_backend_without_crashing():
    proc = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, f'exit {proc.returncode}:\n{proc.stderr[-3000:]}'
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == 12
    for case, result in results.items():
        assert result['scores'][1] == 0.0, case
        assert result['scores'][0] > 0 and result['scores'][2] > 0, case
        assert result['kept_depth'] == 3, case
        assert len(result['warnings']) == 1 and 'scores 0 (no separation)' in result['warnings'][0]


@pytest.mark.parametrize('backend', ['sklearn', 'fast', 'torch'])
def test_huge_values_are_refused_naming_the_layer(backend):
    labels = np.repeat(np.arange(3), 10)
    features = np.random.default_rng(0).normal(size=(30, 8))
    with pytest.raises(ValueError, match=r'Layer 2: features reach [0-9.]+e\+30 in magnitude'):
        select_depth([features, 1e30 * features, features], labels, backend=backend)


def test_no_layer_varying_is_refused():
    labels = np.repeat(np.arange(3), 10)
    with pytest.raises(ValueError, match="No layer's features vary across the samples"):
        select_depth([np.zeros((30, 4)), np.ones((30, 4))], labels)
