"""``[eval.health]``: flags from signals a spec declares (a metric's range at the last
evaluations, a loss term's range over the last logs), in the console, run.json,
`gan report` and quality records."""

from __future__ import annotations

import json
import math

import pytest
from helpers import tiny_gan

from gan.core.errors import SpecError
from gan.core.spec import HealthRule, spec_from_dict
from gan.evaluation.health import flags

RULES = {
    "collapse": HealthRule(metric="samples/frechet", above=500, says="generator collapsed"),
    "critic_wins": HealthRule(loss="discriminator/d_real", below=0.1, last=3),
}


def _logs(values):
    return [{"step": 10 * i, "discriminator/d_real": v} for i, v in enumerate(values)]


def test_flags_from_a_crafted_stream():
    evals = [{"step": 100, "samples/frechet": 38.0}, {"step": 200, "samples/frechet": 3333.0}]
    raised = flags(RULES, evals, _logs([0.5, 0.05, 0.04, 0.03]))
    assert set(raised) == {"collapse", "critic_wins"}
    assert "3333" in raised["collapse"] and "generator collapsed" in raised["collapse"]
    assert "last 3" in raised["critic_wins"]
    # recovered metric, one loss value back in range: nothing raised
    assert flags(RULES, evals[::-1], _logs([0.05, 0.5, 0.04, 0.03])) == {}
    # fewer values than `last`: not yet
    assert flags(RULES, [], _logs([0.01, 0.01])) == {}
    # a NaN signal is out of range
    assert set(flags(RULES, [{"step": 1, "samples/frechet": math.nan}], [])) == {"collapse"}
    # a metric the evaluations never produced: no flag
    assert flags({"x": HealthRule(metric="nope/k", above=0)}, evals, []) == {}


def test_a_rule_needs_one_signal_and_a_bound():
    base = {
        "name": "h",
        "networks": {"G": {"type": "mlp", "in_features": 2}},
        "losses": {"l": {"type": "mse", "input": "x", "target": 0}},
        "phases": [
            {"name": "p", "updates": ["G"], "optimizer": {"type": "sgd"}, "losses": {"l": 1}}
        ],
    }
    for rule, message in [
        ({"above": 1}, "exactly one signal"),
        ({"metric": "a/b", "loss": "p/l", "above": 1}, "exactly one signal"),
        ({"metric": "a/b"}, "a bound"),
    ]:
        with pytest.raises(SpecError, match=message):
            spec_from_dict({**base, "eval": {"health": {"bad": rule}}})


def _spec() -> dict:
    return tiny_gan("health") | {
        "train": {
            "batch_size": 8,
            "device": "cpu",
            "steps": 4,
            "log_every": 1,
            "checkpoint_every": 4,
            "sample_every": 100,
        },
        "eval": {
            "every": 2,
            "limit": 16,
            "metrics": {"recon": {"type": "reconstruction", "node": "x_fake"}},
            "health": {
                # always raised: a reconstruction error is never negative
                "bad_recon": {"metric": "recon/mse", "above": -1.0, "says": "crafted"},
                # never raised: a BCE is never negative
                "critic_wins": {"loss": "d/d_real", "below": -1.0, "last": 2},
            },
        },
    }


def test_a_flagged_run_says_so_everywhere(tmp_path, capsys):
    from gan.tools.report import build_report
    from gan.training.trainer import Trainer

    run = tmp_path / "run"
    Trainer(spec_from_dict(_spec()), run, quiet=False).run()
    assert "FLAG bad_recon: recon/mse" in capsys.readouterr().err
    info = json.loads((run / "run.json").read_text())
    assert set(info["health"]["flags"]) == {"bad_recon"}
    assert info["health"]["first"] == {"bad_recon": 2} and info["health"]["step"] == 4
    assert info["sessions"][-1]["status"] == "finished"  # the session record is kept
    report = build_report(run)
    assert "FLAGGED" in report and "bad_recon" in report
