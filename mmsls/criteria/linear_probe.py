"""Chen & Zhao's layer score: how well a linear classifier on the layer's features predicts the class.

The probe is closed-form ridge regression onto one-hot targets, on standardised features, scored by
stratified k-fold cross-validation (no GPU, no iterative training: a few seconds for 12 layers of
1000 x 768 features on one core). The score is the accuracy above
chance, ``(accuracy - p) / (1 - p)`` with ``p`` the share of the most frequent class: 0 for a layer
that predicts no better than always answering that class, 1 for a perfect one. So, as for a
silhouette, 0 means "no class information" and the SLS rule (a fraction of the top layer's score)
means the same for any number of classes.
"""
from typing import List

import numpy as np

from mmsls.compat import require
from .scorers import LayerScores, register_layer_scorer

CRITERION = 'linear_probe'


@register_layer_scorer(CRITERION, 'numpy')
def ridge_probe(layer_features: List[np.ndarray],
                labels: np.ndarray,
                *,
                seed: int,
                return_embeddings: bool,
                ridge: float = 1.0,
                folds: int = 5) -> LayerScores:
    """Cross-validated accuracy above chance of a ridge probe on each layer.

    Args:
        layer_features (list[np.ndarray]): Checked (N, C_l) features per layer.
        labels (np.ndarray): (N,) integer labels.
        seed (int): Seed of the fold assignment.
        return_embeddings (bool): Unused: there is no embedding to return.
        ridge (float): Regularisation per training sample: the penalty is ``ridge * n_train``
            times the squared weights, on standardised features. Defaults to 1.0.
        folds (int): Number of cross-validation folds, at least 2; fewer when the smallest class
            has fewer samples. Defaults to 5.

    Returns:
        LayerScores: One score per layer, at most 1.
    """
    if not ridge > 0:
        raise ValueError(f'ridge must be > 0, got {ridge!r}')
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f'folds must be an int >= 2, got {folds!r}')
    require('sklearn', 'scikit-learn', "select_depth(criterion='linear_probe')")
    from sklearn.model_selection import StratifiedKFold
    _, classes = np.unique(labels, return_inverse=True)
    counts = np.bincount(classes)
    splitter = StratifiedKFold(n_splits=min(folds, max(2, counts.min())), shuffle=True,
                               random_state=seed)
    splits = list(splitter.split(np.zeros(len(classes)), classes))
    chance = counts.max() / len(classes)
    scores = []
    for features in layer_features:
        accuracy = probe_accuracy(features, classes, splits, ridge)
        scores.append(float((accuracy - chance) / (1 - chance)))
    return LayerScores(tuple(scores))


def probe_accuracy(features: np.ndarray, classes: np.ndarray, splits, ridge: float) -> float:
    """Accuracy of ridge probes trained and tested on ``splits`` (pairs of index arrays).

    Features are standardised once on the whole sample (no labels involved); each fold's normal
    equations come from the whole sample's Gram matrix minus its test rows, so a layer costs one
    Gram matrix and one ``C x C`` Cholesky solve per fold.

    Args:
        features (np.ndarray): (N, C) features.
        classes (np.ndarray): (N,) class ids in ``0..K-1``.
        splits (Iterable[tuple[np.ndarray, np.ndarray]]): (train, test) positions of each fold.
        ridge (float): Penalty per training sample.

    Returns:
        float: The share of test predictions that are right, over all folds.
    """
    from scipy.linalg import solve  # installed with scikit-learn
    features = np.asarray(features, dtype=np.float64)
    std = features.std(0)
    x = (features - features.mean(0)) / np.where(std > 0, std, 1)
    y = np.eye(classes.max() + 1)[classes]
    gram, cross, sum_x, sum_y = x.T @ x, x.T @ y, x.sum(0), y.sum(0)
    correct = 0
    for train, test in splits:
        x_test, num_train = x[test], len(train)
        # Centred normal equations of the training rows, with an intercept.
        mean_x = (sum_x - x_test.sum(0)) / num_train
        mean_y = (sum_y - y[test].sum(0)) / num_train
        train_gram = gram - x_test.T @ x_test - num_train * np.outer(mean_x, mean_x)
        train_cross = cross - x_test.T @ y[test] - num_train * np.outer(mean_x, mean_y)
        weights = solve(train_gram + ridge * num_train * np.eye(len(gram)), train_cross,
                        assume_a='pos')
        predicted = np.argmax((x_test - mean_x) @ weights + mean_y, axis=1)
        correct += int(np.sum(predicted == classes[test]))
    return correct / len(classes)
