"""`gan report RUN`: one self-contained HTML page about a run.

Everything is embedded — the graph picture as inline SVG, plots and sample grids as
base64 PNG, CSS inline, no script — so the file opens from disk with no server and no
network. Works on a run still in progress (it reads whatever has been written) and on a
run with no evaluation. Plots use matplotlib's object API (no pyplot, no global state).
"""

from __future__ import annotations

import base64
import html
import io
import statistics
import time
from pathlib import Path
from typing import Any

from gan.core.errors import GanError
from gan.core.safefiles import check_output, read_inside, write_output
from gan.training.runinfo import Run, read_run

MAX_GRIDS = 8  # sample grids shown, evenly spaced over the run, the newest always
MAX_PANELS = 16  # loss panels (one per phase) and metric panels drawn; the rest named
MAX_DRAWN = 300  # graph nodes + phases beyond which the picture is not drawn (dot's time)
MAX_PLAN_ROWS = 100  # rows of the phase table
MARKERS_UP_TO = 40  # curves of at most this many points are drawn with markers
SMOOTH_FROM = 300  # curves of at least this many points get a moving average


def _e(value: Any) -> str:
    return html.escape(str(value), quote=False)  # text only: no attribute takes it


def _plain(text: str) -> str:
    """Text matplotlib draws as written: a ``$`` would start its math mode (mathtext),
    which fails on, or renders, a name that happens to hold two of them."""
    return text.replace("$", r"\$")


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _figure(panel_w: float = 4.2, panel_h: float = 2.8):
    """One panel's figure. Each panel is its own picture, so that the page lays them out
    side by side on a wide screen and one under the other on a narrow one, at a size
    whose text stays readable (one wide picture of all panels shrinks its text instead)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise GanError(
            "gan report draws its plots with matplotlib: pip install 'gan[report]'."
        ) from None
    fig = Figure(figsize=(panel_w, panel_h), layout="constrained")
    return fig, fig.add_subplot(1, 1, 1)


def loss_phases(run: Run) -> dict[str, list[str]]:
    """The logged ``phase/term`` keys grouped by phase, in first-seen order."""
    phases: dict[str, list[str]] = {}
    for key in run.loss_names():
        phases.setdefault(key.split("/", 1)[0], []).append(key)
    return phases


def loss_plot(run: Run) -> list[str]:
    """Every loss term per phase vs step (one panel per phase), and steps/s: base64 PNGs."""
    phases = loss_phases(run)
    if not phases:
        return []
    panels = []
    for phase, keys in list(phases.items())[:MAX_PANELS]:
        fig, ax = _figure()
        for key in keys:
            points = [(r["step"], r[key]) for r in run.train if _num(r.get(key))]
            _curve(ax, points, label=_plain(key.split("/", 1)[1]))
        ax.set_title(_plain(f"phase {phase}"), fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (mean per log interval)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        panels.append(_png(fig))
    points = [(r["step"], r["steps_per_s"]) for r in run.train if _num(r.get("steps_per_s"))]
    if points:
        fig, ax = _figure()
        _curve(ax, points, color="#555555")
        ax.set_title("speed", fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("steps/s", fontsize=8)
        ax.grid(alpha=0.3)
        panels.append(_png(fig))
    return panels


def smooth(values: list[float], window: int) -> list[float]:
    """A centred moving average of ``window`` points (shorter at the ends)."""
    half = window // 2
    return [statistics.fmean(values[max(0, i - half) : i + half + 1]) for i in range(len(values))]


def _curve(ax, points: list[tuple[float, float]], label: str | None = None, **style: Any):
    """One curve: with markers where the points are few (a line between 2 points hides
    that there are only 2); from ``SMOOTH_FROM`` points on, a moving average (labelled,
    "smoothed") over the faint raw values, as long runs log noisy losses."""
    if not points:
        return
    xs, ys = (list(v) for v in zip(*points, strict=True))
    if len(points) <= MARKERS_UP_TO:
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=label, **style)
    elif len(points) >= SMOOTH_FROM:
        (raw,) = ax.plot(xs, ys, linewidth=0.6, alpha=0.3, **style)
        window = max(3, len(ys) // 50)
        ax.plot(
            xs,
            smooth(ys, window),
            linewidth=1.3,
            color=raw.get_color(),
            label=None if label is None else f"{label} (smoothed, {window} points)",
        )
    else:
        ax.plot(xs, ys, linewidth=1.2, label=label, **style)


def eval_plot(run: Run) -> list[str]:
    """Each evaluation metric vs step, the selected (best) step marked: base64 PNGs."""
    metrics = run.eval_metric_names()
    if not metrics or len(run.evals) < 2:
        return []  # one evaluation: the table says it all
    best = run.best_eval()
    panels = []
    for key in metrics[:MAX_PANELS]:
        fig, ax = _figure(3.4, 2.4)
        points = [(r["step"], r[key]) for r in run.evals if _num(r.get(key))]
        _curve(ax, points, color="#1f78b4")
        if best is not None:
            ax.axvline(best["step"], color="#e31a1c", linewidth=0.8, linestyle="--")
        ax.set_title(_plain(key), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(_plain(key.rsplit("/", 1)[-1]), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        panels.append(_png(fig))
    return panels


def _panels(pngs: list[str], alt: str, css: str) -> str:
    images = "".join(
        f'<img class="{css}" alt="{_e(alt)}" src="data:image/png;base64,{png}">' for png in pngs
    )
    return f'<div class="figure panels">{images}</div>'


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _stamp(t: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if _num(t) else "?"


def run_facts(run: Run) -> list[tuple[str, str]]:
    sessions = [s for s in run.info.get("sessions", []) if isinstance(s, dict)]
    last = sessions[-1] if sessions else {}
    facts = [("status", run.status)]
    health = run.info.get("health")
    if isinstance(health, dict) and isinstance(health.get("flags"), dict):
        raised, first = health["flags"], health.get("first") or {}
        if raised:  # [eval.health]: what the spec declared a failed run
            text = "; ".join(f"{name}: {reason}" for name, reason in raised.items())
            facts.append(("FLAGGED", f"{text} (at the evaluation of step {health.get('step')})"))
        elif first:
            seen = ", ".join(f"{name} from step {step}" for name, step in first.items())
            facts.append(("health", f"no flag at the last evaluation; earlier: {seen}"))
        else:
            facts.append(("health", "no flag raised"))
    planned = run.planned_steps
    facts.append(("steps", f"{run.last_step}" + (f" of {planned}" if planned else "")))
    seconds = 0.0
    for s in sessions:
        if _num(s.get("seconds")):
            seconds += s["seconds"]
        elif _num(s.get("started")):
            seconds += max(0.0, time.time() - s["started"])  # still running (or killed)
    times = [r["time"] for r in run.train if _num(r.get("time"))]
    if not seconds and len(times) > 1:
        seconds = times[-1] - times[0]
    if seconds:
        facts.append(
            (
                "wall time",
                _duration(seconds) + (f" in {len(sessions)} sessions" if len(sessions) > 1 else ""),
            )
        )
    rates = [r["steps_per_s"] for r in run.train if _num(r.get("steps_per_s"))]
    if rates:
        facts.append(
            ("steps/s", f"{statistics.fmean(rates):.2f} mean of logged, {rates[-1]:.2f} last")
        )
    facts.append(("seed", _fmt(run.seed)))
    if last:
        facts.append(("command", last.get("command", "?")))
        facts.append(("started", _stamp(last.get("started"))))
        if last.get("cwd"):
            facts.append(("working folder", last["cwd"]))
        machine = last.get("machine", {})
        if isinstance(machine, dict):
            where = ", ".join(
                f"{k} {machine[k]}" for k in ("host", "device", "gpu", "cpus") if k in machine
            )
            facts.append(("machine", where))
            if machine.get("platform"):
                facts.append(("platform", machine["platform"]))
        versions = last.get("versions", {})
        if isinstance(versions, dict):
            facts.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
        if _num(last.get("world_size")) and last["world_size"] > 1:
            facts.append(("processes", str(last["world_size"])))
    else:
        facts.append(("command", "not recorded (run.json is written by newer gan versions)"))
    facts.append(
        (
            "checkpoints",
            f"{len(run.checkpoints)} step checkpoint(s)"
            + (", best.safetensors" if run.best_checkpoint else ""),
        )
    )
    return facts


def describe_run(run: Run) -> tuple[dict[str, Any] | None, str]:
    """The run's graph and plan (`gan inspect` data) from its own spec; ``(None, why)``
    when it cannot be rebuilt here (e.g. a plugin that is not installed)."""
    if not run.spec:
        return None, "the run folder has no spec.toml"
    from gan.core.resolve import resolve
    from gan.core.spec import spec_from_dict
    from gan.tools.inspect import describe

    try:
        return describe(resolve(spec_from_dict(run.spec))), ""
    except GanError as exc:
        return None, str(exc)
    except Exception as exc:  # a third-party network failing its dry run: still report
        return None, f"{type(exc).__name__}: {exc}"


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 28px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0 0.1em; }
h2 { font-size: 1.2em; margin: 1.6em 0 0.5em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin: 0 0 1em; }
table { border-collapse: collapse; font-size: 0.9em; background: #fff; }
td, th { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #fff7d6; }
.figure { background: #fff; border: 1px solid #ddd; padding: 8px; overflow-x: auto; }
.figure img, .figure svg { max-width: 100%; height: auto; }
.panels { display: flex; flex-wrap: wrap; gap: 8px; }
.panels img.panel { width: 350px; }
.panels img.small { width: 290px; }
table + p.sub { margin-top: 0.5em; }
.grids { display: flex; flex-wrap: wrap; gap: 12px; }
.grids figure { margin: 0; background: #fff; border: 1px solid #ddd; padding: 6px; }
.grids img { width: 220px; image-rendering: pixelated; display: block; }
figcaption { font-size: 0.85em; color: #555; text-align: center; margin-top: 4px; }
pre { background: #fff; border: 1px solid #ddd; padding: 10px; font-size: 0.82em;
      overflow: auto; max-height: 520px; }
.note { color: #8a5300; background: #fff4e0; border: 1px solid #f0d29b; padding: 6px 10px; }
code { font-size: 0.92em; }
"""


def build_report(path: str | Path) -> str:
    """The HTML text of the report on the run folder ``path``."""
    run = read_run(path)
    parts: list[str] = []
    add = parts.append
    title = f"gan report — {run.name}"
    add(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>')
    add('<meta name="viewport" content="width=device-width, initial-scale=1">')
    add(f"<style>{CSS}</style></head><body><main>")
    add(f"<h1>{_e(run.name)}</h1>")
    description = run.spec.get("description", "")
    add(
        f'<p class="sub">{_e(description)}{" — " if description else ""}run folder '
        f"<code>{_e(run.path.resolve())}</code>; report written {_e(_stamp(time.time()))}</p>"
    )
    for note in run.notes:
        add(f'<p class="note">{_e(note)}</p>')

    add('<h2 id="facts">Run</h2><table>')
    for key, value in run_facts(run):
        add(f"<tr><th>{_e(key)}</th><td>{_e(value)}</td></tr>")
    add("</table>")

    add('<h2 id="losses">Loss terms per phase</h2>')
    losses = loss_plot(run)
    if losses:
        add(_panels(losses, "loss curves", "panel"))
        phases = loss_phases(run)
        if len(phases) > MAX_PANELS:
            add(
                f'<p class="note">{len(phases)} phases log losses: the first {MAX_PANELS} '
                f"are drawn (metrics.jsonl holds them all).</p>"
            )
    else:
        add('<p class="note">No training line in metrics.jsonl yet.</p>')

    add('<h2 id="eval">Evaluation</h2>')
    parts.extend(_eval_section(run))

    info, why = describe_run(run)
    add('<h2 id="graph">Graph and phases</h2>')
    if info is None:
        add(f'<p class="note">The graph cannot be drawn here: {_e(why)}</p>')
    else:
        parts.extend(_graph_section(info))

    add('<h2 id="samples">Samples over training</h2>')
    parts.extend(_samples_section(run))

    add('<h2 id="spec">Spec</h2>')
    if run.spec_text:
        add(f"<pre>{_e(run.spec_text)}</pre>")
    else:
        add('<p class="note">spec.toml is missing.</p>')
    add("</main></body></html>")
    return "\n".join(parts)


def _graph_section(info: dict[str, Any]) -> list[str]:
    """The graph's picture (unless too large to lay out here), the phase table (its
    first :data:`MAX_PLAN_ROWS` rows) and `gan inspect`'s text."""
    from gan.tools import graphview
    from gan.tools.inspect import collapse_plan, render

    out: list[str] = []
    size = len(info["nodes"]) + len(info["plan"])
    if size > MAX_DRAWN:
        out.append(
            f'<p class="note">The graph has {len(info["nodes"])} nodes and '
            f"{len(info['plan'])} phase executions per step, more than {MAX_DRAWN} to lay out "
            f"here; <code>gan inspect SPEC --format dot</code> writes it for Graphviz.</p>"
        )
    else:
        try:
            svg, drawn_by = graphview.to_svg(info)
            out.append(f'<div class="figure" id="graph-picture">{svg}</div>')
            out.append(
                f'<p class="sub">Nodes are filled with the colour of the network that computes '
                f"them; notes are loss terms, 3-D boxes phases (edges carry the weights), dashed "
                f"edges the networks each phase updates. Drawn by {_e(drawn_by)}.</p>"
            )
        except GanError as exc:
            out.append(f'<p class="note">{_e(exc)}</p>')
    out.append(
        "<table><tr><th>phase</th><th>per step</th><th>updates</th><th>optimizer</th>"
        "<th>minimises</th></tr>"
    )
    groups = collapse_plan(info["plan"])
    for group in groups[:MAX_PLAN_ROWS]:
        p = group["first"]
        opt = p["optimizer"]
        per = f"×{group['count']}" + (f", every {p['every']} steps" if p["every"] != 1 else "")
        terms = " + ".join(f"{w:g}·{t}" for t, w in p["losses"].items())
        out.append(
            f"<tr><td>{_e(p['phase'])}</td><td>{_e(per)}</td>"
            f"<td>{_e(', '.join(p['updates']))}</td>"
            f"<td>{_e(opt['type'])} lr={_e(opt.get('lr'))}</td><td>{_e(terms)}</td></tr>"
        )
    out.append("</table>")
    if len(groups) > MAX_PLAN_ROWS:
        out.append(f'<p class="sub">The first {MAX_PLAN_ROWS} of {len(groups)} rows.</p>')
    out.append(f"<details><summary>gan inspect</summary><pre>{_e(render(info))}</pre></details>")
    return out


def _eval_section(run: Run) -> list[str]:
    if not run.evals:
        spec_eval = run.spec.get("eval", {})
        why = (
            "no evaluation has run yet (the spec's metrics are evaluated "
            + (f"every {spec_eval['every']} steps and " if spec_eval.get("every") else "")
            + "at the last step)"
            if spec_eval.get("every") or spec_eval.get("metrics")
            else "the spec declares no metrics ([eval.metrics]); `gan eval RUN --set "
            "eval.metrics.NAME.type=…` computes some for a checkpoint"
        )
        return [f'<p class="note">No evaluation in metrics.jsonl: {_e(why)}.</p>']
    out = []
    plot = eval_plot(run)
    if plot:
        out.append(_panels(plot, "evaluation metrics", "panel small"))
    last, best = run.evals[-1], run.best_eval()
    key = run.spec.get("eval", {}).get("best")
    head = f"last (step {last['step']}, {last.get('split') or '?'} split)"
    cols = [head]
    if best is not None and best is not last:
        cols.append(f"best by {key} (step {best['step']})")
    out.append("<table><tr><th>metric</th>" + "".join(f"<th>{_e(c)}</th>" for c in cols) + "</tr>")
    for name in run.eval_metric_names():
        cls = ' class="best"' if name == key else ""
        cells = [last.get(name)] + ([(best or {}).get(name)] if len(cols) > 1 else [])
        out.append(
            f"<tr{cls}><td>{_e(name)}</td>"
            + "".join(f'<td class="num">{_e(_fmt(v) if v is not None else "")}</td>' for v in cells)
            + "</tr>"
        )
    out.append("</table>")
    if key:
        out.append(
            f'<p class="sub">best.safetensors is chosen by {_e(key)} '
            f"({_e(run.spec.get('eval', {}).get('best_mode', 'max'))}).</p>"
        )
    return out


def _samples_section(run: Run) -> list[str]:
    if not run.samples:
        return [
            '<p class="note">No sample grid yet (the spec\'s [sample] node, every '
            "train.sample_every steps).</p>"
        ]
    chosen = run.samples
    if len(chosen) > MAX_GRIDS:
        idx = {round(i * (len(chosen) - 1) / (MAX_GRIDS - 1)) for i in range(MAX_GRIDS)}
        chosen = [chosen[i] for i in sorted(idx)]
    out = []
    if len(chosen) < len(run.samples):
        out.append(f'<p class="sub">{len(chosen)} of {len(run.samples)} grids, evenly spaced.</p>')
    out.append('<div class="grids">')
    for step, png in chosen:
        try:
            raw = read_inside(run.path, png)
        except GanError as exc:  # a link out of the run, a pipe, a huge file: say so
            out.append(f'<p class="note">{_e(exc)}</p>')
            continue
        if raw is None:
            continue
        data = base64.b64encode(raw).decode()
        out.append(
            f'<figure><img alt="samples at step {step}" src="data:image/png;base64,{data}">'
            f"<figcaption>step {step}</figcaption></figure>"
        )
    out.append("</div>")
    return out


def write_report(run_path: str | Path, out: str | Path | None = None) -> Path:
    """Write the report; ``out`` defaults to ``RUN/report.html``."""
    target = Path(out) if out is not None else Path(run_path) / "report.html"
    if target.is_dir():
        raise GanError(
            f"--out '{target}' is a folder. Give a file name, e.g. --out {target / 'report.html'}."
        )
    check_output(target)  # before the work: a device, a pipe or a link is never replaced
    text = build_report(run_path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_output(target, text.encode("utf-8"))
    except OSError as exc:
        raise GanError(
            f"Cannot write '{target}': {exc.strerror or exc}. Choose a writable --out, "
            f"e.g. --out /tmp/report.html."
        ) from None
    return target
