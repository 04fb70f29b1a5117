"""Built-in metric components for ``[eval]``: clustering, encoder probes, sample quality
and reconstruction. They register through the same ``gan_metrics`` hook a plugin uses.

Every metric reads graph nodes named in the spec, so the same four metrics serve every
model: ClusterGAN's ``E(x)`` logits, InfoGAN's Q head and AAE's ``q(y|x)`` are all just
``node = "..."`` to the clustering metric.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from gan.core.components import Metric, NodeRef, Params
from gan.core.hooks import hookimpl
from gan.evaluation import classifier as judge
from gan.evaluation import metrics as M
from gan.evaluation.evaluate import Evaluation


def _labels_of(t: torch.Tensor) -> np.ndarray:
    """Class indices from indices, one-hot rows or logits."""
    return (t.argmax(1) if t.dim() == 2 else t.reshape(-1)).long().numpy()


class ClusteringParams(Params):
    node: NodeRef = Field(description="Node computed from x: cluster logits/probabilities.")
    method: Literal["argmax", "kmeans"] = Field(
        "argmax", description="argmax of the node, or k-means on its values."
    )
    clusters: int | None = Field(None, ge=2, description="k for k-means (default: classes).")
    confident: bool = Field(
        False,
        description="Also the AAE protocol: label each cluster by its most confident "
        "validation example (the validation split when data.val > 0, else the train split).",
    )
    validation: int = Field(10_000, ge=10, description="Validation examples for `confident`.")


def _mean_entropy(scores: torch.Tensor) -> torch.Tensor:
    """Mean entropy of per-row distributions: rows that are already probabilities (non-
    negative, summing to 1) as they are, anything else through a softmax (logits)."""
    is_prob = bool((scores >= 0).all()) and torch.allclose(
        scores.sum(1), torch.ones(len(scores)), atol=1e-4
    )
    log_p = scores.clamp_min(1e-12).log() if is_prob else torch.log_softmax(scores, dim=1)
    return -(log_p.exp() * log_p).sum(1).mean()


def clustering(p: ClusteringParams, ev: Evaluation) -> dict[str, float]:
    """ACC (Hungarian), purity, NMI, ARI of the clusters of real examples."""
    values = ev.real(p.node)
    if p.method == "kmeans":
        from sklearn.cluster import KMeans

        k = p.clusters or ev.num_classes
        feats = values.reshape(len(values), -1).numpy()
        pred = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(feats)
    else:
        pred = _labels_of(values)
    out = M.cluster_scores(pred, ev.labels().numpy())
    # collapse diagnostics: how many clusters hold examples, the largest one's share and
    # (for scores per cluster) the mean entropy of q(y|x) in nats
    counts = np.bincount(pred)
    out["clusters_used"] = float((counts > 0).sum())
    out["largest_share"] = float(counts.max() / len(pred))
    out["largest_cluster"] = float(counts.argmax())  # does a collapse hop between clusters?
    if p.method == "argmax" and values.dim() == 2 and values.shape[1] > 1:
        out["entropy"] = float(_mean_entropy(values.float()))
    if p.confident:
        val = ev.real(p.node, split=ev.labelling_split, limit=p.validation)
        probs = torch.softmax(val.float(), dim=1).numpy()
        val_labels = ev.labels(ev.labelling_split, p.validation).numpy()
        out["acc_confident"] = M.confident_example_accuracy(
            probs, val_labels, pred, ev.labels().numpy()
        )
    return out


class ProbeParams(Params):
    node: NodeRef = Field(description="Node computed from x: the features to probe.")
    train_size: int = Field(10_000, ge=10, description="Train-split examples the probes fit.")
    logistic: bool = Field(True, description="Also fit a logistic-regression probe.")


def probe(p: ProbeParams, ev: Evaluation) -> dict[str, float]:
    """1-NN and logistic-regression accuracy of encoder features (train → eval split)."""
    train_t = ev.real(p.node, split="train", limit=p.train_size)
    train_x = train_t.reshape(len(train_t), -1).numpy()
    train_y = ev.labels("train", p.train_size).numpy()
    test_t = ev.real(p.node)
    test_x = test_t.reshape(len(test_t), -1).numpy()
    test_y = ev.labels().numpy()
    out = {"knn1_acc": M.nearest_neighbour_accuracy(train_x, train_y, test_x, test_y)}
    if p.logistic:
        out["logreg_acc"] = M.logistic_regression_accuracy(train_x, train_y, test_x, test_y)
    return out


class SampleQualityParams(Params):
    node: NodeRef = Field(description="Node holding generated images.")
    condition: NodeRef | None = Field(
        None, description="Node with the class/code each sample was generated for."
    )
    mapping: Literal["identity", "hungarian", "majority"] = Field(
        "identity",
        description="identity: the condition is the class (CGAN); hungarian: an "
        "unsupervised code, matched one-to-one to classes first (InfoGAN, ClusterGAN); "
        "majority: each code takes its most frequent class (more codes than classes).",
    )
    n: int = Field(10_000, ge=10, le=1_000_000, description="Generated samples.")
    per_class: bool = Field(True, description="Also report the accuracy of every class.")


def sample_quality(p: SampleQualityParams, ev: Evaluation) -> dict[str, float]:
    """Fréchet distance in the data classifier's feature space (not Inception FID) and,
    with a condition, the share of samples the classifier assigns to their class."""
    net = ev.classifier()
    nodes = (p.node,) if p.condition is None else (p.node, p.condition)
    gen = ev.generated(nodes, p.n)
    fake_feats, fake_logits = judge.predict(net, ev.as_images(gen[p.node]))
    real_labels = ev.labels()
    real_feats, real_logits = ev.judge_real()
    out = {
        "frechet": M.frechet_distance(fake_feats.numpy(), real_feats.numpy()),
        "judge_acc": float((real_logits.argmax(1) == real_labels).float().mean()),
    }
    if p.condition is not None:
        code = _labels_of(gen[p.condition])
        predicted = fake_logits.argmax(1).numpy()
        if p.mapping == "identity":
            target = code
        else:
            match = M.hungarian_mapping if p.mapping == "hungarian" else M.majority_mapping
            mapping = match(code, predicted)
            target = np.array([mapping.get(int(c), -1) for c in code])
        hit = predicted == target
        out["class_acc"] = float(hit.mean())
        if p.per_class:
            for c in np.unique(target):
                if c >= 0:
                    out[f"class_acc_{int(c)}"] = float(hit[target == c].mean())
    return out


class ReconstructionParams(Params):
    node: NodeRef = Field(description="Node computed from x: its reconstruction.")


def reconstruction(p: ReconstructionParams, ev: Evaluation) -> dict[str, float]:
    """Mean squared error between x and its reconstruction, in the data's pixel range."""
    rec = ev.as_images(ev.real(p.node))
    x = ev.data()[0]
    return {"mse": float(((rec - x) ** 2).mean())}


@hookimpl
def gan_metrics():
    return [
        Metric(
            "clustering",
            clustering,
            ClusteringParams,
            directions={k: "max" for k in ("acc", "purity", "nmi", "ari", "acc_confident")},
        ),
        Metric("probe", probe, ProbeParams, directions={"*_acc": "max"}),
        Metric(
            "sample_quality",
            sample_quality,
            SampleQualityParams,
            directions={"frechet": "min", "class_acc*": "max"},  # judge_acc judges the judge
        ),
        Metric("reconstruction", reconstruction, ReconstructionParams, directions={"mse": "min"}),
    ]
