"""bench/trials.py: a trial's overrides are parsed as written, and its figure is the best
validation value of its curve (the test split is never read)."""

from __future__ import annotations

import trials  # bench/trials.py: bench/ is on the tests' path (pyproject.toml)


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


def test_plot_draws_every_trials_curve(tmp_path):
    store = tmp_path / "trials_x.jsonl"
    rows = [
        {"trial": "a", "metric": "m", "best_val": 0.5, "curve": [{"step": 1, "m": 0.5}]},
        {"trial": "b", "metric": "m", "error": "stopped", "curve": [{"step": 1, "m": None}]},
    ]
    store.write_text("".join(trials.json.dumps(r) + "\n" for r in rows))
    trials.main(["--name", "x", "--plot", "--out", str(tmp_path)])
    png = tmp_path / "trials_x.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
