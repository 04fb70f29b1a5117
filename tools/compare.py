"""`gan compare RUN…`: one table of metrics across runs.

Runs whose specs are equal except for the seed (and keys that do not change the
experiment: the description, the data folder, the device) form one group; a group's
cell is the mean ± sample standard deviation over its seeds, with each seed's value.
The spec keys that differ between groups are shown beside the table.

Values come from each run's metrics.jsonl: an evaluation metric from the eval line that
selected the best checkpoint (``--at best``, the spec's ``eval.best``; the last eval
line where it names none) or the last eval line (``--at last``); a training key
(``phase/term``, ``steps_per_s``) from the last training line.
"""

from __future__ import annotations

import fnmatch
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan.core.errors import GanError
from gan.training.runinfo import Run, read_run

# Keys that do not define the experiment (the seed, where the data and the device are,
# how often the run logs and saves): runs differing only here are pooled.
POOLED_KEYS = {
    "train.seed",
    "description",
    "data.root",
    "data.download",
    "train.device",
    "train.log_every",
    "train.sample_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "log.tensorboard",
    "sample.n",
}


@dataclass(frozen=True)
class Pooled:
    """Values of one metric over seeds: mean, sample standard deviation (``None`` for a
    single value), count and the values themselves."""

    mean: float
    std: float | None
    n: int
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": list(self.values)}

    def text(self, digits: int = 4) -> str:
        each = ", ".join(f"{v:.{digits}g}" for v in self.values)
        if self.std is None:
            return f"{self.mean:.{digits}g}"
        return f"{self.mean:.{digits}g} ± {self.std:.{digits // 2 + 1}g} ({each})"


def pooled(values: list[float]) -> Pooled | None:
    """Mean ± sample standard deviation (n − 1) of the finite values; ``None`` if none."""
    finite = tuple(float(v) for v in values if v is not None and math.isfinite(v))
    if not finite:
        return None
    std = statistics.stdev(finite) if len(finite) > 1 else None
    return Pooled(statistics.fmean(finite), std, len(finite), finite)


def flatten_spec(spec: dict[str, Any]) -> dict[str, Any]:
    from gan.training.runfolder import flatten

    return {k: v for k, v in flatten(spec).items() if k}


@dataclass
class Group:
    label: str
    spec_name: str
    differences: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    values: list[dict[str, float]] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)


def run_values(run: Run, patterns: list[str] | None, at: str) -> tuple[dict[str, float], int]:
    """The metric values of one run and the step they were measured at."""
    line = run.best_eval() if at == "best" else (run.evals[-1] if run.evals else None)
    values: dict[str, float] = {}
    step = line["step"] if line else 0
    if line is not None:
        values.update((k, v) for k, v in line.items() if k not in ("step", "split") and _number(v))
    last_train = run.train[-1] if run.train else {}
    train = {
        k: v
        for k, v in last_train.items()
        if ("/" in k or k == "steps_per_s") and _number(v) and k not in values
    }
    if patterns:
        values.update(train)
        chosen = {k: v for k, v in values.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}
        return chosen, step
    if values:
        return values, step
    return train, (last_train.get("step") or 0)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def compare(
    paths: Sequence[str | Path], metrics: list[str] | None = None, at: str = "best"
) -> dict:
    """The comparison as data (what ``--json`` prints)."""
    if not paths:
        raise GanError("gan compare: give one or more run folders, e.g. gan compare runs/a runs/b.")
    warnings: list[str] = []
    if at not in ("best", "last"):
        raise GanError(f"--at {at!r}: use 'best' or 'last'.")
    unique: dict[str, str | Path] = {}
    for p in paths:  # one run named twice (runs/a and ./runs/a/) is one seed, not two
        unique.setdefault(os.path.realpath(p), p)
    if len(unique) < len(paths):
        warnings.append(
            f"{len(paths) - len(unique)} run folder(s) named more than once; each counted once."
        )
    runs = [read_run(p) for p in unique.values()]
    flat = [flatten_spec(r.spec) for r in runs]
    keys = sorted(set().union(*flat))
    varying = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
    defining = [k for k in varying if k not in POOLED_KEYS]
    groups: dict[tuple, Group] = {}
    for run, f in zip(runs, flat, strict=True):
        diffs = {k: f.get(k) for k in defining}
        key = tuple(repr(v) for v in diffs.values())
        if key not in groups:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in diffs.items() if k != "name")
            label = run.name + (f" [{shown}]" if shown else "")
            groups[key] = Group(label, run.name, diffs)
        values, step = run_values(run, metrics, at)
        groups[key].runs.append(run)
        groups[key].values.append(values)
        groups[key].steps.append(step)
    names: dict[str, None] = {}
    for g in groups.values():
        for v in g.values:
            names.update((k, None) for k in v)
    if metrics and not names:
        raise GanError(
            f"--metric {' '.join(metrics)}: no run logs a metric matching that. Known here: "
            f"{', '.join(_known(runs)) or '(none)'}."
        )
    out_groups = []
    for g in groups.values():
        summary = {}
        for name in names:
            p = pooled([v[name] for v in g.values if name in v])
            summary[name] = p.as_dict() if p else None
        out_groups.append(
            {
                "label": g.label,
                "spec": g.spec_name,
                "differences": g.differences,
                "runs": [
                    {"path": str(r.path), "seed": r.seed, "step": s, "values": v}
                    for r, v, s in zip(g.runs, g.values, g.steps, strict=True)
                ],
                "summary": summary,
            }
        )
    return {
        "at": at,
        "metrics": list(names),
        "differences": defining,
        "groups": out_groups,
        "warnings": warnings,
    }


def _known(runs: list[Run]) -> list[str]:
    names: dict[str, None] = {}
    for r in runs:
        names.update((k, None) for k in r.eval_metric_names())
        names.update((k, None) for k in r.loss_names())
    return list(names)[:30]


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "—"
    values = tuple(summary["values"])
    return Pooled(summary["mean"], summary["std"], summary["n"], values).text()


def table_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    head = ["runs", "seeds", *result["metrics"]]
    rows = []
    for g in result["groups"]:
        seeds = ", ".join(str(r["seed"]) for r in g["runs"])
        rows.append([g["label"], seeds, *(_cell(g["summary"][m]) for m in result["metrics"])])
    return head, rows


def render_markdown(result: dict) -> str:
    head, rows = table_rows(result)
    esc = [[c.replace("|", "\\|") for c in row] for row in [head, *rows]]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in esc[1:]]
    lines.append("")
    lines.append(_footer(result))
    return "\n".join(lines)


def render_text(result: dict) -> str:
    _head, rows = table_rows(result)
    # one block per group: metric names down the side reads better than a wide table
    out = []
    for g, row in zip(result["groups"], rows, strict=True):
        out.append(f"{row[0]}  (seeds {row[1]}; {len(g['runs'])} run(s))")
        width = max((len(m) for m in result["metrics"]), default=0)
        for m, cell in zip(result["metrics"], row[2:], strict=True):
            out.append(f"  {m:<{width}}  {cell}")
        out.append("")
    out.append(_footer(result))
    return "\n".join(out)


def _footer(result: dict) -> str:
    where = (
        "the eval line that chose the best checkpoint (eval.best), else the last eval line"
        if result["at"] == "best"
        else "the last eval line"
    )
    text = (
        f"Values: {where}; training keys from the last training line. "
        f"Cells: mean ± sample std (each seed's value)."
    )
    if result["differences"]:
        text += " Spec keys that differ between groups: " + ", ".join(result["differences"]) + "."
    else:
        text += " All runs share one spec (seeds pooled)."
    return text
