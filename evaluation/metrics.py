"""Metric functions: pure functions of arrays, no model, no state.

Each is the textbook definition, delegated to scipy / scikit-learn wherever a well-kept
implementation exists, so the numbers mean what the papers' numbers mean:

* clustering accuracy with the Hungarian matching of clusters to classes (one class per
  cluster) — ``scipy.optimize.linear_sum_assignment``;
* purity (every cluster takes its majority class: many clusters may share a class; the
  "ACC" of ClusterGAN's tables and of any over-clustering such as AAE's 16 clusters);
* NMI and ARI — ``sklearn.metrics``;
* the Fréchet distance between two Gaussians fitted to feature sets (the formula of FID;
  the features are whatever the caller passes — see :mod:`gan.evaluation.classifier`);
* encoder probes: 1-nearest-neighbour and logistic-regression accuracy.
"""

from __future__ import annotations

import numpy as np

# scipy and scikit-learn are imported where they are used: loading them costs seconds,
# and every `gan` command loads this module with the registry, most without scoring.


def contingency_with_ids(
    pred: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cluster ids, class ids, counts ``[cluster, class]``), rows and columns in id order."""
    clusters, p = np.unique(pred, return_inverse=True)
    classes, t = np.unique(labels, return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    return clusters, classes, table


def contingency(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts ``[cluster, class]``; clusters and classes are re-indexed densely."""
    return contingency_with_ids(pred, labels)[2]


def _best_matching(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the one-to-one matching with the largest total count."""
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(table, maximize=True)


def hungarian_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy under the best one-to-one mapping of clusters to classes.

    With more clusters than classes, unmatched clusters count as errors (use
    :func:`purity` for over-clustering).
    """
    table = contingency(pred, labels)
    rows, cols = _best_matching(table)
    return float(table[rows, cols].sum() / len(labels))


def hungarian_mapping(pred: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """The cluster → class mapping chosen by :func:`hungarian_accuracy` (original ids)."""
    clusters, classes, table = contingency_with_ids(pred, labels)
    rows, cols = _best_matching(table)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols, strict=True)}


def majority_mapping(pred: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """Each cluster → its most frequent class (many clusters may share a class)."""
    clusters, classes, table = contingency_with_ids(pred, labels)
    return {int(c): int(classes[table[i].argmax()]) for i, c in enumerate(clusters)}


def purity(pred: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose cluster's majority class is their class."""
    table = contingency(pred, labels)
    return float(table.max(axis=1).sum() / len(labels))


def cluster_scores(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """ACC (Hungarian), purity, NMI and ARI of a clustering against true labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pred, labels = np.asarray(pred), np.asarray(labels)
    return {
        "acc": hungarian_accuracy(pred, labels),
        "purity": purity(pred, labels),
        "nmi": float(normalized_mutual_info_score(labels, pred)),
        "ari": float(adjusted_rand_score(labels, pred)),
    }


def confident_example_accuracy(
    val_probs: np.ndarray, val_labels: np.ndarray, test_pred: np.ndarray, test_labels: np.ndarray
) -> float:
    """The AAE paper's protocol (Makhzani et al. 2016, §5.1): each cluster i takes the
    label of the validation example with the largest q(y_i | x); test examples get
    their cluster's label. Clusters no validation example prefers get label -1 (errors).
    """
    val_probs = np.asarray(val_probs)
    cluster_label = val_labels[np.argmax(val_probs, axis=0)]  # one label per cluster
    assigned = np.argmax(val_probs, axis=1)
    used = np.zeros(val_probs.shape[1], dtype=bool)
    used[np.unique(assigned)] = True
    cluster_label = np.where(used, cluster_label, -1)
    test_pred = np.asarray(test_pred)
    safe = np.clip(test_pred, 0, len(cluster_label) - 1)
    guess = np.where(test_pred < len(cluster_label), cluster_label[safe], -1)
    return float((guess == np.asarray(test_labels)).mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2(Σ_a Σ_b)^½) of Gaussians fitted to ``a`` and ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # Tr((Σ_a Σ_b)^½) = Σ √λ_i, λ_i the eigenvalues of Σ_a Σ_b (real and ≥ 0 for PSD
    # matrices): stable where sqrtm is not, e.g. for the singular covariances of ReLU
    # features with dead units.
    eig = np.linalg.eigvals(cov_a @ cov_b).real
    trace_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_covmean)


def nearest_neighbour_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    """1-NN (Euclidean) accuracy: the BiGAN paper's probe of encoder features."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=1).fit(train_x, train_y)
    return float((knn.predict(test_x) == test_y).mean())


def logistic_regression_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> float:
    """Linear-probe accuracy on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    probe.fit(train_x, train_y)
    return float((probe.predict(test_x) == test_y).mean())
