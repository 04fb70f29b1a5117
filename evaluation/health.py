"""Health flags: a run whose generator collapsed or whose critic won outright says so.

A spec declares the signals (``[eval.health.NAME]``, :class:`gan.core.spec.HealthRule`):
a metric of its evaluations or a logged loss term, a range, and over how many of the
latest values it must be out of range. :func:`flags` reads them from the run's history,
so a collapsed run is flagged in the console, in ``run.json`` (``health``) and by
``gan report``, instead of being left for a reader to notice in a sample grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gan.core.spec_eval import HealthRule


def _out(value: float, rule: HealthRule) -> bool:
    if not math.isfinite(value):
        return True  # a NaN or infinite signal is out of every range
    return (rule.above is not None and value > rule.above) or (
        rule.below is not None and value < rule.below
    )


def _bound(rule: HealthRule) -> str:
    parts = [f"> {rule.above:g}" if rule.above is not None else ""]
    parts.append(f"< {rule.below:g}" if rule.below is not None else "")
    return " or ".join(p for p in parts if p)


def flags(
    rules: Mapping[str, HealthRule],
    evals: Sequence[Mapping[str, Any]],
    logs: Sequence[Mapping[str, Any]],
) -> dict[str, str]:
    """``{flag: reason}`` for every rule whose signal is out of range at its last
    ``last`` values: metrics from ``evals`` (keys "NAME/KEY"), losses from ``logs``
    (keys "PHASE/TERM"), both oldest first. A signal with fewer values is not flagged."""
    raised: dict[str, str] = {}
    for name, rule in rules.items():
        key = rule.metric if rule.metric is not None else rule.loss or ""
        history = evals if rule.metric is not None else logs
        values = [float(r[key]) for r in history if isinstance(r.get(key), int | float)][
            -rule.last :
        ]
        if len(values) < rule.last or not all(_out(v, rule) for v in values):
            continue
        span = "" if rule.last == 1 else f" over the last {rule.last} values"
        what = f" ({rule.says})" if rule.says else ""
        raised[name] = f"{key} = {values[-1]:.4g} {_bound(rule)}{span}{what}"
    return raised


def run_history(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A run folder's evaluations (keys without ``eval/``) and training logs."""
    from gan.training.runinfo import read_metrics

    path = folder / "metrics.jsonl"
    if not path.is_file():
        return [], []
    train, evals, _ = read_metrics(path)
    return evals, train


def describe(raised: Mapping[str, str]) -> str:
    """One console line naming every raised flag."""
    return "; ".join(f"FLAG {name}: {reason}" for name, reason in raised.items())
