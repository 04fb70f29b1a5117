"""Metric functions on hand-made inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from gan.evaluation import metrics as M

rng = np.random.default_rng(0)
LABELS = np.repeat(np.arange(10), 100)


def test_permuted_labelling_scores_one():
    perm = rng.permutation(10)
    scores = M.cluster_scores(perm[LABELS], LABELS)
    assert scores == pytest.approx({"acc": 1.0, "purity": 1.0, "nmi": 1.0, "ari": 1.0})


def test_random_labelling_scores_near_zero():
    scores = M.cluster_scores(rng.integers(0, 10, len(LABELS)), LABELS)
    assert scores["acc"] < 0.2
    assert scores["nmi"] < 0.05
    assert abs(scores["ari"]) < 0.02


def test_hungarian_is_one_to_one_and_purity_is_not():
    # clusters 0 and 1 both hold class 0 (100 each); class 1 is cluster 2 (50)
    pred = np.array([0] * 100 + [1] * 100 + [2] * 50)
    labels = np.array([0] * 200 + [1] * 50)
    assert M.hungarian_accuracy(pred, labels) == pytest.approx(150 / 250)
    assert M.purity(pred, labels) == pytest.approx(1.0)
    assert M.hungarian_mapping(pred, labels)[2] == 1
    assert M.majority_mapping(pred, labels) == {0: 0, 1: 0, 2: 1}


def test_hungarian_mapping_recovers_a_permutation():
    perm = rng.permutation(10)
    mapping = M.hungarian_mapping(perm[LABELS], LABELS)
    assert all(mapping[int(perm[c])] == c for c in range(10))


def test_confident_example_protocol():
    # 3 clusters; validation: the most confident example of cluster 0 is class 7,
    # of cluster 1 class 3, of cluster 2 class 3
    val_probs = np.array(
        [[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1]]
    )
    val_labels = np.array([7, 1, 3, 3, 9])
    test_pred = np.array([0, 1, 2, 0])
    test_labels = np.array([7, 3, 3, 1])
    assert M.confident_example_accuracy(val_probs, val_labels, test_pred, test_labels) == 0.75


def test_frechet_distance_of_gaussians():
    a = rng.normal(size=(20000, 4))
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = rng.normal(size=(20000, 4)) + np.array([2.0, 0, 0, 0])
    assert M.frechet_distance(a, shifted) == pytest.approx(4.0, abs=0.1)
    wide = rng.normal(size=(20000, 4)) * 2.0  # Tr(1 + 4 - 2·2) per dim = 1
    assert M.frechet_distance(a, wide) == pytest.approx(4.0, abs=0.15)


def test_frechet_distance_survives_singular_covariances():
    a = rng.normal(size=(500, 6))
    a[:, 3:] = 0.0  # dead features, as ReLU units give
    b = a + 1.0
    assert np.isfinite(M.frechet_distance(a, b))


def test_probes_separate_separable_features_and_not_noise():
    centres = rng.normal(size=(10, 16)) * 5
    train_y = np.repeat(np.arange(10), 50)
    test_y = np.repeat(np.arange(10), 20)
    train_x = centres[train_y] + rng.normal(size=(500, 16))
    test_x = centres[test_y] + rng.normal(size=(200, 16))
    assert M.nearest_neighbour_accuracy(train_x, train_y, test_x, test_y) > 0.95
    assert M.logistic_regression_accuracy(train_x, train_y, test_x, test_y) > 0.95
    noise = rng.normal(size=(200, 16))
    assert M.nearest_neighbour_accuracy(train_x, train_y, noise, test_y) < 0.3
