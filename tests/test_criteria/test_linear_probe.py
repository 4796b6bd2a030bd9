"""The ridge linear probe: sklearn's ridge classifier fold by fold, chance-corrected, known depths."""
import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import StratifiedKFold

from mmsls.criteria import select_depth
from mmsls.criteria.linear_probe import probe_accuracy
from mmsls.criteria.synthetic import BENCHMARK_CASES, synthetic_layer_features


def test_probe_accuracy_equals_sklearn_ridge_classifier():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 120)
    features = rng.standard_normal((120, 16)) * rng.uniform(0.5, 3, 16) + 0.8 * labels[:, None]
    splits = list(StratifiedKFold(4, shuffle=True, random_state=0).split(features, labels))
    standardised = (features - features.mean(0)) / features.std(0)
    correct = 0
    for train, test in splits:
        probe = RidgeClassifier(alpha=0.5 * len(train)).fit(standardised[train], labels[train])
        correct += np.sum(probe.predict(standardised[test]) == labels[test])
    accuracy = probe_accuracy(features, labels, splits, ridge=0.5)
    assert accuracy == correct / len(labels)
    assert 0.4 < accuracy < 1


def test_scores_are_accuracy_above_chance():
    rng = np.random.default_rng(1)
    labels = np.array([0] * 70 + [1] * 30)
    separable = rng.standard_normal((100, 4)) + 10 * labels[:, None]
    constant = np.ones((100, 3))
    scores = select_depth([constant, separable], labels, criterion='linear_probe',
                          backend='numpy').scores
    # Constant features: the probe always answers the majority class, 70% right = chance.
    assert scores == (0.0, 1.0)


def test_noise_scores_about_zero_and_the_known_depth_is_kept():
    case = BENCHMARK_CASES[1]  # 100 classes
    features, labels = synthetic_layer_features(case.separated_fractions, 400, case.num_classes,
                                                num_dims=64, seed=2)
    selection = select_depth(features, labels, criterion='linear_probe', backend='numpy', seed=3)
    assert selection.kept_depth == case.expected_depth
    assert max(abs(score) for score in selection.scores[:3]) < 0.05
    assert selection.scores[7] > 0.95


def test_folds_depend_on_the_seed_only():
    features, labels = synthetic_layer_features([0.3, 0.6], 120, 6, num_dims=16, seed=0)
    first = select_depth(features, labels, criterion='linear_probe', backend='numpy', seed=1)
    again = select_depth(features, labels, criterion='linear_probe', backend='numpy', seed=1)
    assert first.scores == again.scores


@pytest.mark.parametrize('options, message', [
    (dict(ridge=0), 'ridge must be > 0'),
    (dict(folds=1), 'folds must be an int >= 2'),
])
def test_bad_options_are_refused(options, message):
    features, labels = synthetic_layer_features([0.5], 40, 4, num_dims=8)
    with pytest.raises(ValueError, match=message):
        select_depth(features, labels, criterion='linear_probe', backend='numpy', **options)
