"""bench/trials.py: a trial's overrides are parsed as written, and its figure is the best
validation value of its curve (the test split is never read)."""

from __future__ import annotations

import sys

from helpers import REPO

sys.path.insert(0, str(REPO / "bench"))
import trials


def test_trial_text_names_its_overrides():
    assert trials.parse_trial("base") == ("base", [])
    assert trials.parse_trial("lr2x: a.b=1 ; c.d=[1, 2];") == ("lr2x", ["a.b=1", "c.d=[1, 2]"])


def test_best_validation_value_and_its_step():
    evals = [
        {"step": 1000, "split": "val", "kmeans/purity": 0.61},
        {"step": 2000, "split": "val", "kmeans/purity": 0.74},
        {"step": 3000, "split": "val", "kmeans/purity": 0.70},
        {"step": 4000, "split": "val"},
    ]
    assert trials.best_of(evals, "kmeans/purity") == (0.74, 2000)
    assert trials.best_of(evals, "cluster/acc") == (None, None)
