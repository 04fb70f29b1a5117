"""``quality.md`` from the records of ``bench/results/quality.json``: every seed's figure,
the table against the papers (and, for an engine held to a twin, the twin's seed range),
the curves and the commands that reproduce each row."""

from __future__ import annotations

import statistics
from itertools import combinations
from pathlib import Path

from quality_entries import MODELS, PROTOCOL, Entry, twin_of


def fmt(entry: Entry, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{100 * (1 - value):.2f}% error" if entry.as_error else f"{100 * value:.2f}%"


TWIN_COLOUR = "tab:red"


def validation_curve(entry: Entry, record: dict) -> dict[int, float]:
    """A record's validation figure (``entry.metric``) by evaluation step."""
    return {c["step"]: c[entry.metric] for c in record.get("curve", []) if entry.metric in c}


def _median_curve(entry: Entry, records: list[dict]) -> tuple[list[int], list[float]] | None:
    """The median over ``records`` (two seeds or more) at the steps they all reached."""
    curves = [validation_curve(entry, r) for r in records]
    if len(curves) < 2:
        return None
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    values = [statistics.median(c[s] for c in curves) for s in steps]
    if entry.as_error:
        values = [100 * (1 - v) for v in values]
    return (steps, values) if steps else None


def plot_curves(
    entry: Entry, records: list[dict], path: Path, beside: list[dict] | None = None
) -> bool:
    """Validation metric vs step, one line per seed (the newest record of each seed);
    ``beside``: a twin's records, each seed dashed with their range shaded and the
    engine's median drawn bold over them, so the twin target reads off the picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    newest = {(r.get("variant", ""), r["seed"]): r for r in records}
    if entry.second:
        fig, (ax, below) = plt.subplots(2, 1, figsize=(6, 5.2), dpi=110, sharex=True)
    else:
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    drawn = False
    twin = twin_of(entry)
    side = "engine " if twin is not None else ""
    if twin is not None:  # the engine's seeds never take the twin's colour
        tab10 = plt.get_cmap("tab10").colors  # index 3 is TWIN_COLOUR, tab:red
        ax.set_prop_cycle(color=[c for i, c in enumerate(tab10) if i != 3])
    for (variant, seed), r in sorted(newest.items()):
        points = list(validation_curve(entry, r).items())
        if not points:
            continue
        steps, values = zip(*points, strict=True)
        if entry.as_error:
            values = tuple(100 * (1 - v) for v in values)
        label = f"{side}seed {seed}" + (f", {variant}" if variant else "")
        line = ax.plot(steps, values, marker=".", label=label)[0]
        drawn = True
        if entry.second:
            extra = [(c["step"], c[entry.second]) for c in r["curve"] if entry.second in c]
            if extra:
                below.plot(*zip(*extra, strict=True), marker=".", color=line.get_color())
    twin_points: dict[int, list[float]] = {}
    for n, (_seed, r) in enumerate(sorted({r["seed"]: r for r in (beside or [])}.items())):
        points = list(validation_curve(entry, r).items())
        if not points or twin is None:
            continue
        if entry.as_error:
            points = [(step, 100 * (1 - v)) for step, v in points]
        for step, value in points:
            twin_points.setdefault(step, []).append(value)
        steps, values = zip(*points, strict=True)
        label = "twin: each seed" if n == 0 else None
        ax.plot(steps, values, linestyle="--", color=TWIN_COLOUR, linewidth=1, label=label)
        drawn = True
    if any(len(v) > 1 for v in twin_points.values()):
        steps = sorted(twin_points)
        low = [min(twin_points[s]) for s in steps]
        high = [max(twin_points[s]) for s in steps]
        ax.fill_between(steps, low, high, color=TWIN_COLOUR, alpha=0.12, label="twin: seed range")
    ours = _median_curve(entry, [r for r in newest.values() if not r.get("variant")])
    if twin is not None and ours is not None:
        ax.plot(*ours, color="black", linewidth=2.2, label="engine: median of its seeds")
    if not drawn:
        plt.close(fig)
        return False
    if entry.second:
        below.set_xlabel("training step")
        below.set_ylabel(entry.second)
        below.grid(alpha=0.3)
    else:
        ax.set_xlabel("training step")
    ax.set_ylabel(("error % " if entry.as_error else "") + f"{entry.metric} (validation)")
    if twin is None:  # beside a twin, the target is the twin's range, not the paper's line
        target = 100 * (1 - entry.target) if entry.as_error else entry.target
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
        ax.set_title(f"{entry.name}: validation curve")
    else:
        ax.set_title(f"{entry.name} beside its twin: validation curve", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8 if twin is None else 7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def newest_runs(records: list[dict], entry: Entry) -> dict[tuple[str, int], dict]:
    """The current-protocol records of one model, the newest per (variant, seed)."""
    rows = [r for r in records if r.get("protocol") == PROTOCOL and r["model"] == entry.name]
    return {(r.get("variant", ""), r["seed"]): r for r in rows}


def weak_rows(entry: Entry, record: dict) -> list[tuple[int, float]]:
    """The rows (classes or codes) whose samples the judge reads as theirs for less
    than ``entry.weak_rows`` of the time, with that share."""
    if entry.weak_rows is None:
        return []
    prefix = "samples/class_acc_"
    rows = {int(k[len(prefix) :]): v for k, v in record.get("metrics", {}).items()
            if k.startswith(prefix) and k[len(prefix) :].isdigit()}  # fmt: skip
    return [(k, v) for k, v in sorted(rows.items()) if v < entry.weak_rows]


def weak_threshold(entry: Entry) -> str:
    """``< 80%``: the share under which a row counts as weak, as the report writes it."""
    return f"< {100 * (entry.weak_rows or 0):.0f}%"


def weak_text(entry: Entry, record: dict) -> str:
    rows = weak_rows(entry, record)
    named = ", ".join(f"{k} ({100 * v:.0f}%)" for k, v in rows) or "none"
    return f"rows read {weak_threshold(entry)}: {named}"


TWIN_SEEDS = 3  # the comparison: the same 3 seeds on each side


def chance_median_inside(ours: int, theirs: int) -> float:
    """How strict the twin-range target is at one evaluation: the chance that the median
    of ``ours`` seeds lies inside the range of ``theirs`` seeds when both sides are the
    same program. Every interleaving of the two sides' ranks is then equally likely, so
    the chance is a count over them (``ours`` odd, so the median is one of its seeds).
    Three a side give 0.6: equal programs miss two evaluations in five on average."""
    if ours % 2 == 0 or theirs < 2:
        raise ValueError("needs an odd number of our seeds and two twin seeds or more")
    total = ours + theirs
    inside = 0
    layouts = list(combinations(range(total), ours))
    for mine in layouts:
        twin = [i for i in range(total) if i not in mine]
        inside += min(twin) < mine[ours // 2] < max(twin)
    return inside / len(layouts)


def ranges_overlap(a: list[float], b: list[float]) -> bool:
    """Whether the seed ranges (least to greatest) of two sides share a value."""
    return max(min(a), min(b)) <= min(max(a), max(b))


def inside_twin_range(entry: Entry, ours: list[dict], twins: list[dict]) -> tuple[bool, str]:
    """The target of an entry drawn beside its twin (``beside``): at every evaluation
    step that every seed of both sides reached, the median over our seeds of the
    validation figure lies inside the twin's seed range (its least to its greatest),
    with the same :data:`TWIN_SEEDS` seeds on each side. A twin of one seed has no range
    yet; fewer seeds, or other seeds, leave the target unmet however the curves lie."""
    mine = [validation_curve(entry, r) for r in ours]
    theirs = [validation_curve(entry, r) for r in twins]
    our_seeds, twin_seeds = sorted(r["seed"] for r in ours), sorted(r["seed"] for r in twins)
    seeds = f"engine seeds {our_seeds}, twin {twin_seeds}"
    steps = sorted(set.intersection(*(set(c) for c in mine + theirs))) if mine and theirs else []
    if len(theirs) < 2 or not steps:
        return False, f"no twin range yet ({seeds})"
    outside, overlapping = [], 0
    for step in steps:
        median = statistics.median(c[step] for c in mine)
        values = [c[step] for c in theirs]
        overlapping += ranges_overlap([c[step] for c in mine], values)
        if not min(values) <= median <= max(values):
            outside.append(f"{step} ({median:.3f} vs {min(values):.3f}–{max(values):.3f})")
    text = f"inside the twin's {len(theirs)}-seed range at {len(steps) - len(outside)} of "
    text += f"{len(steps)} evaluations" + (
        f"; outside at step {', '.join(outside)}" if outside else ""
    )
    if len(mine) % 2:  # how strict that is, and the looser reading beside it
        chance = chance_median_inside(len(mine), len(theirs))
        text += f" (two equal programs: chance {chance:.2f} per evaluation)"
        text += f"; the seed ranges overlap at {overlapping} of {len(steps)}"
    enough = our_seeds == twin_seeds and len(our_seeds) >= TWIN_SEEDS
    if not enough:
        text += f"; not yet the same {TWIN_SEEDS} seeds a side ({seeds})"
    return enough and not outside, text


def paper_table(records: list[dict]) -> list[str]:
    """Each model (and variant): the median test figure over its seeds beside the
    paper's figure and the target, met or not."""
    from gan.tools.compare import pooled  # mean ± std over seeds, as `gan compare` shows it

    lines = [
        "| model | median test figure | paper / target | target met |",
        "| --- | --- | --- | --- |",
    ]
    for entry in MODELS:
        newest = newest_runs(records, entry)
        for variant in sorted({v for v, _ in newest}):
            values = [
                r["value"]
                for (v, _), r in newest.items()
                if v == variant and r.get("value") is not None
            ]
            if not values:
                continue
            name = entry.name + (f" — {variant}" if variant else "")
            median = statistics.median(values)
            met = median >= entry.target
            spread = pooled([100 * (1 - v) if entry.as_error else 100 * v for v in values])
            spread_text = f"; mean ± std {spread.text(3)}" if spread and spread.std else ""
            if entry.weak_rows is not None:
                seeds = [r for (v, _), r in newest.items() if v == variant and "metrics" in r]
                weak = sum(bool(weak_rows(entry, r)) for r in seeds)
                spread_text += f"; {weak} of {len(seeds)} with a row read {weak_threshold(entry)}"
            met_text = "yes" if met else "**no**"
            twin = twin_of(entry)
            if twin is not None:  # the target is the twin's range, not the paper's figure
                ours = [r for (v, _), r in newest.items() if v == variant]
                theirs = [r for (v, _), r in newest_runs(records, twin).items() if v == variant]
                met, agreement = inside_twin_range(entry, ours, theirs)
                met_text = ("yes: " if met else "**no**: ") + agreement
            elif entry.script:  # a twin is the reference the engine is held to
                met_text = "— (the reference)"
            lines.append(
                f"| {name} | {fmt(entry, median)} ({len(values)} seed(s){spread_text}) | "
                f"{entry.paper} | {met_text} |"
            )
    return lines


def picture_runs(entry: Entry, current: list[dict]) -> tuple[list[dict], list[dict]]:
    """The runs one entry's picture draws: its own, and its twin's beside them. Beside a
    twin only the comparison's own budget (no variant) is drawn, on both sides: a shorter
    variant's curve would read as a fourth seed, and its twin seed would take the place
    of the full run's (the twin's seeds are drawn by seed). Variants keep their rows."""
    twin = twin_of(entry)
    rows = [r for r in current if r["model"] == entry.name and "error" not in r]
    if twin is None:
        return rows, []
    beside = [r for r in current if r["model"] == twin.name and "error" not in r]
    return [r for r in rows if not r.get("variant")], [r for r in beside if not r.get("variant")]


def write_report(records: list[dict], path: Path) -> None:
    """quality.md: every seed's record, the table against the papers, the curves, the
    budgets and the commands (tables and links; the reading is bench/findings/)."""
    current = [r for r in records if r.get("protocol") == PROTOCOL]
    lines = [
        "# MNIST quality benchmark",
        "",
        "Written by `python bench/quality.py` from `quality.json` (the protocol is in its "
        "docstring and in [bench/README.md](../README.md); what the figures show, what was "
        "tried and what is next is in [bench/findings/quality.md](../findings/quality.md)). "
        "Each model is trained for a budget of **steps** per seed, the checkpoint is "
        "selected on a **validation split** held out of the training images (`data.val`), "
        "and the figure below is computed **once on the MNIST test split** from that "
        "checkpoint (`gan eval RUN --best --set eval.split=test`). Every seed's figure is "
        "shown; the median is over seeds. Minutes are wall-clock with the load average "
        "beside them (above the machine's core count, the run shared the CPU).",
        "",
        "| model | seed | test figure | val (selected) | selected step / steps | minutes | "
        "load start → end | other test metrics |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in MODELS:
        newest = newest_runs(records, entry)
        for (variant, seed), r in sorted(newest.items()):
            name = entry.name + (f" — {variant}" if variant else "")
            if "error" in r:
                lines.append(f"| {name} | {seed} | failed: {r['error']} | | | | | |")
                continue
            others = ", ".join(
                f"{k} {r['metrics'][k]:.4f}" for k in entry.extra if k in r["metrics"]
            )
            if entry.weak_rows is not None:
                others += f"; {weak_text(entry, r)}"
            if "step0" in r:  # the untrained networks' figure, beside the trained one
                others += f"; step 0: {entry.metric} {fmt(entry, r['step0'].get(entry.metric))}"
            load = (
                f"{r['load_start'][0]:.2f} → {r['load_end'][0]:.2f}"
                if "load_start" in r
                else "not recorded"
            )
            lines.append(
                f"| {name} | {seed} | {fmt(entry, r['value'])} | "
                f"{fmt(entry, r.get('val_value'))} | {r['selected_step']} / {r['steps']} | "
                f"{r['minutes']} | {load} | {others} |"
            )
    lines += [
        "",
        "## Against the papers",
        "",
        *paper_table(records),
        "",
        "## Curves",
        "",
    ]
    for entry in MODELS:
        rows, beside = picture_runs(entry, current)
        png = path.parent / f"quality_{entry.key.lower()}.png"
        if rows and plot_curves(entry, rows, png, beside):
            lines.append(f"![{entry.name} validation curve]({png.name})")
            lines.append("")
    lines += ["## Budgets and notes", ""]
    for entry in MODELS:
        if any(r["model"] == entry.name for r in current):
            lines.append(f"- **{entry.name}** (`{entry.spec}`): {entry.notes}")
    lines += [
        "- Sample metrics use the project's MNIST judge classifier (trained once on the "
        "training split and cached): `samples/class_acc` is the share of samples it "
        "assigns to the class (or code) they were drawn for; `samples/frechet` is a "
        "Fréchet distance in its feature space, **not** Inception FID.",
        "",
        "## Reproduce",
        "",
    ]
    for entry in MODELS:  # the command of every row of the first table
        for (variant, _), r in sorted(newest_runs(records, entry).items()):
            name = entry.name + (f" — {variant}" if variant else "")
            then = f", then `{r['eval_command']}`" if r.get("eval_command") else ""
            lines.append(f"- {name} seed {r['seed']}: `{r['command']}`{then}")
    older = [r for r in records if r.get("protocol") != PROTOCOL]
    if older:
        lines += [
            "",
            "## Earlier records (wall-clock protocol: 10 min per model, test split, no "
            "validation split)",
            "",
            "| model | spec | reported value | steps | load |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in older:
            lines.append(
                f"| {r['model']} | {r['spec']} | {r.get('value')} | {r.get('step')} | "
                f"{r.get('load_average_1min')} |"
            )
    path.write_text("\n".join(lines) + "\n")
