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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan.core.errors import GanError
from gan.tools import escape
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
    "train.vectorize",
    "train.cuda_graph",
}


def seed_folders(path: Path) -> list[Path]:
    """The ``seed_K`` run folders of a many-seed run (``gan run --seeds``), by seed;
    empty when ``path`` is not such a parent folder."""
    if not path.is_dir() or (path / "spec.toml").is_file() or (path / "metrics.jsonl").is_file():
        return []
    found = []
    for sub in path.glob("seed_*"):
        number = sub.name.removeprefix("seed_")
        if number.isdigit() and sub.is_dir() and not sub.is_symlink():
            found.append((int(number), sub))
    return [sub for _, sub in sorted(found)]


def expand(paths: Sequence[str | Path]) -> list[Path]:
    """Run folders, a many-seed run's parent folder standing for its seed folders."""
    out: list[Path] = []
    for p in paths:
        out += seed_folders(Path(p)) or [Path(p)]
    return out


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
    folders = expand(paths)
    unique: dict[str, Path] = {}
    for folder in folders:  # one run named twice (runs/a and ./runs/a/) is one seed, not two
        unique.setdefault(os.path.realpath(folder), folder)
    if len(unique) < len(folders):
        warnings.append(
            f"{len(folders) - len(unique)} run folder(s) named more than once; each counted once."
        )
    runs = [read_run(p) for p in unique.values()]
    warnings += [f"{run.path}: {note}" for run in runs for note in run.notes]
    flat = [flatten_spec(r.spec) for r in runs]
    keys = sorted(set().union(*flat))
    varying = [k for k in keys if len({repr(f.get(k)) for f in flat}) > 1]
    defining = [k for k in varying if k not in POOLED_KEYS]
    groups: dict[tuple, Group] = {}
    for run, f in zip(runs, flat, strict=True):
        diffs = {k: f.get(k) for k in defining}
        key = tuple(repr(v) for v in diffs.values())
        if key not in groups:
            groups[key] = Group(run.name, run.name, diffs)
        values, step = run_values(run, metrics, at)
        groups[key].runs.append(run)
        groups[key].values.append(values)
        groups[key].steps.append(step)
    _label_groups(list(groups.values()))
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
        "directions": {name: metric_direction(name, runs) for name in names},
        "differences": defining,
        "groups": out_groups,
        "warnings": warnings,
    }


LABEL_KEYS = 3  # keys that tell apart groups of one spec name in their label


def _label_groups(groups: list[Group]) -> None:
    """Each group is labelled by its spec's name; groups of the same name add the (few)
    keys whose values tell them apart: ``bigan [….lr=0.001]``."""
    by_name: dict[str, list[Group]] = {}
    for g in groups:
        by_name.setdefault(g.spec_name, []).append(g)
    for same in by_name.values():
        if len(same) < 2:
            continue
        keys = [k for k in same[0].differences if len({repr(g.differences[k]) for g in same}) > 1]
        for g in same:
            shown = [f"{k.rsplit('.', 1)[-1]}={_short(g.differences[k])}" for k in keys]
            more = f", +{len(shown) - LABEL_KEYS} keys" if len(shown) > LABEL_KEYS else ""
            g.label = f"{g.spec_name} [{', '.join(shown[:LABEL_KEYS])}{more}]"


def metric_direction(name: str, runs: list[Run]) -> str | None:
    """``"max"``/``"min"``: which way ``name`` (``cluster/acc``) is better, as declared by
    the metric component that computes it (``Metric.directions``) in the runs' specs;
    ``None`` for a key no component gives a direction (a loss term, a diagnostic) or one
    whose runs disagree."""
    if name == "steps_per_s":
        return "max"  # gan's own speed column
    prefix, _, key = name.partition("/")
    if not key:
        return None
    from gan.core.components import Metric
    from gan.core.registry import default_registry

    registry = default_registry()
    ways = set()
    for run in runs:
        table = run.spec.get("eval", {}).get("metrics", {})
        declared = table.get(prefix) if isinstance(table, dict) else None
        kind = declared.get("type") if isinstance(declared, dict) else None
        if not isinstance(kind, str) or kind not in registry.names(Metric):
            continue
        ways.add(registry.get(Metric, kind, f"eval.metrics.{prefix}").direction(key))
    return ways.pop() if len(ways) == 1 else None


def _known(runs: list[Run]) -> list[str]:
    names: dict[str, None] = {}
    for r in runs:
        names.update((k, None) for k in r.eval_metric_names())
        names.update((k, None) for k in r.loss_names())
    return list(names)[:30]


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"


ARROWS = {"max": "↑", "min": "↓"}
BEST_MARK = "*"  # after the best value of a row (text); Markdown puts it in bold


def _cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return "—"
    values = tuple(summary["values"])
    return Pooled(summary["mean"], summary["std"], summary["n"], values).text()


def best_group(result: dict, metric: str) -> int | None:
    """The index of the group with the best mean of ``metric`` by its direction (none
    without a direction, or with fewer than two groups to choose among)."""
    way = result.get("directions", {}).get(metric)
    means = [
        (g["summary"][metric]["mean"], i)
        for i, g in enumerate(result["groups"])
        if g["summary"].get(metric) is not None
    ]
    if way not in ARROWS or len(means) < 2:
        return None
    return (max(means) if way == "max" else min(means))[1]


def table_rows(
    result: dict,
    mark: tuple[str, str] = ("", BEST_MARK),
    esc: Callable[[str], str] = escape.terminal,
):
    """One row per metric (with its ↑/↓), one column per group; every cell escaped by
    ``esc`` for its output (names come from run folders), then the best cell of each
    row wrapped in ``mark``."""
    head = ["metric", *(esc(g["label"]) for g in result["groups"])]
    rows = [
        ["seeds", *(esc(", ".join(str(r["seed"]) for r in g["runs"])) for g in result["groups"])]
    ]
    for m in result["metrics"]:
        arrow = ARROWS.get(result.get("directions", {}).get(m) or "", "")
        best = best_group(result, m)
        cells = []
        for i, g in enumerate(result["groups"]):
            cell = esc(_cell(g["summary"][m]))
            cells.append(f"{mark[0]}{cell}{mark[1]}" if i == best else cell)
        rows.append([f"{esc(m)} {arrow}".rstrip(), *cells])
    return head, rows


def render_markdown(result: dict) -> str:
    head, rows = table_rows(result, ("**", "**"), escape.markdown)
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    lines.extend(_differences(result, markdown=True))
    lines.append(_footer(result))
    return "\n".join(lines)


def render_text(result: dict) -> str:
    head, rows = table_rows(result)
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [head, *rows]
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    out.append("")
    out.extend(_differences(result, markdown=False))
    out.append(_footer(result))
    return "\n".join(out)


MAX_DIFFERENCES = 20  # spec keys listed; the rest are counted


def _differences(result: dict, markdown: bool) -> list[str]:
    """The spec keys that differ between groups, once: the keys every group sets (with
    each group's value), then a count of those only some specs have (other networks, other
    losses: `gan inspect` shows them). Nothing when the runs share one spec."""
    groups = result["groups"]
    if len(groups) < 2:
        return []
    keys = [k for k in result["differences"] if k != "name"]
    by_name: dict[str, list[dict]] = {}
    for g in groups:
        by_name.setdefault(g["spec"], []).append(g)

    def splits_a_spec(k: str) -> bool:  # tells apart groups of one spec: always shown
        return any(
            len({repr(g["differences"].get(k)) for g in same}) > 1 for same in by_name.values()
        )

    shared = [
        k
        for k in keys
        if splits_a_spec(k) or all(g["differences"].get(k) is not None for g in groups)
    ]
    partial = len(keys) - len(shared)
    out = ["Spec keys that differ between the groups (in the order of the columns):"]
    for k in shared[:MAX_DIFFERENCES]:
        esc = escape.markdown if markdown else escape.terminal
        values = " | ".join(
            "—" if g["differences"].get(k) is None else esc(_short(g["differences"][k]))
            for g in groups
        )
        out.append(f"- {esc(k)}: {values}" if markdown else f"  {esc(k)}: {values}")
    if len(shared) > MAX_DIFFERENCES:
        out.append(f"  … and {len(shared) - MAX_DIFFERENCES} more")
    if partial:
        out.append(
            f"  and {partial} key(s) that only some of the specs have (other networks, losses "
            f"or samplers: `gan inspect SPEC` shows each)."
        )
    out.append("")
    return out


def _footer(result: dict) -> str:
    where = (
        "the eval line that chose the best checkpoint (eval.best), else the last eval line"
        if result["at"] == "best"
        else "the last eval line"
    )
    text = (
        f"Values: {where}; training keys from the last training line. "
        f"Cells: mean ± sample std (each seed's value); ↑/↓: higher/lower is better, as "
        f"the metric declares; {BEST_MARK} or bold: the best group of the row."
    )
    if not result["differences"]:
        text += " All runs share one spec (seeds pooled)."
    return text
