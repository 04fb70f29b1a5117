"""A logged recipe search on the validation split: ``bench/results/trials_<name>.jsonl``.

    python bench/trials.py --name clustergan_fast --spec specs/clustergan_fast.toml \\
        --metric kmeans/purity --set train.steps=6000 \\
        --trial base --trial "bf16:train.precision=bf16"
    python bench/trials.py --name clustergan_fast --plot     # redraw trials_<name>.png

Each trial is the spec plus its own ``--set`` overrides (``;``-separated after the
trial's name). It is trained with ``gan run`` (one at a time: two side by side would
halve each one's CPU), its validation curve is read from ``metrics.jsonl`` and one line
is appended to the trials file: the trial, the full spec's hash, the overrides, steps,
minutes, load average, the best validation value and its step, and the curve. The test
split is never read here: a recipe is chosen on these lines, and its test figure is
computed once, afterwards, by ``bench/quality.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, RESULTS, RUNS, add_data_root, recorded
from records import append_jsonl, read_jsonl

from gan.core.spec import load_spec
from gan.training.runinfo import read_run


def parse_trial(text: str) -> tuple[str, list[str]]:
    """``name`` or ``name:key=value;key=value`` → (name, overrides)."""
    name, _, rest = text.partition(":")
    return name.strip(), [s.strip() for s in rest.split(";") if s.strip()]


def best_of(evals: list[dict], metric: str) -> tuple[float | None, int | None]:
    scored = [(e[metric], e["step"]) for e in evals if metric in e]  # read_metrics drops "eval/"
    return max(scored) if scored else (None, None)


def run_trial(args: argparse.Namespace, trial: str, overrides: list[str]) -> dict:
    # `gan run` runs from the repository root: the data root as a record writes it
    sets = [f"data.root={recorded(args.data_root)}", f"data.source={args.source}"]
    sets.append("data.val=10000")
    sets += list(args.set or []) + overrides
    out = (Path(args.runs) / f"{args.name}_{trial}").absolute()
    spec_hash = load_spec(args.spec, sets).hash()
    cmd = [sys.executable, "-m", "gan", "run", args.spec, "--out", recorded(out), "--force", "-q"]
    for s in sets:
        cmd += ["--set", s]
    load_start = list(os.getloadavg())
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    record: dict = {
        "trial": trial,
        "spec": args.spec,
        "spec_hash": spec_hash,
        "overrides": sets,
        "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or None,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "minutes": round((time.perf_counter() - start) / 60, 1),
        "load_start": load_start,
        "load_end": list(os.getloadavg()),
    }
    if proc.returncode != 0:
        # a run that failed or was stopped (e.g. a diverged trial cut short with SIGTERM:
        # the trainer saves a checkpoint and exits 143) keeps its curve on record
        record["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1]
        if not (out / "metrics.jsonl").is_file():
            return record
    run = read_run(out)
    value, step = best_of(run.evals, args.metric)
    record.update(
        steps=run.last_step,
        execution=run.execution,
        metric=args.metric,
        best_val=value,
        best_step=step,
        curve=[{"step": e["step"], args.metric: e.get(args.metric)} for e in run.evals],
    )
    return record


def plot(store: Path, path: Path) -> None:
    """Every trial's validation curve (metric against generator step) in one figure,
    so recipes are compared per step whatever device or load each ran under."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_jsonl(store)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    metric = None
    for r in records:
        metric = r.get("metric") or metric
        points = [(c["step"], c.get(metric)) for c in r.get("curve", [])]
        points = [(s, v) for s, v in points if v is not None]
        if points:
            steps, values = [s for s, _ in points], [v for _, v in points]
            ax.plot(steps, values, marker=".", label=f"{r['trial']} ({r.get('best_val')})")
    ax.set_xlabel("generator step")
    ax.set_ylabel(f"validation {metric}")
    ax.set_title(store.stem)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True, help="the search's name: trials_<name>.jsonl")
    p.add_argument("--plot", action="store_true", help="only draw trials_<name>.png")
    p.add_argument("--spec")
    p.add_argument("--metric", help="validation metric, e.g. kmeans/purity")
    p.add_argument("--trial", action="append", help="name[:k=v;k=v]")
    p.add_argument("--set", action="append", help="--set for every trial (e.g. the budget)")
    add_data_root(p)
    p.add_argument("--source", default="mnist")
    p.add_argument("--runs", default=str(RUNS / "trials"))
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    store = Path(args.out) / f"trials_{args.name}.jsonl"
    if args.plot:
        plot(store, store.with_suffix(".png"))
        return
    if not (args.spec and args.metric and args.trial):
        p.error("--spec, --metric and --trial are required to run trials")
    store.parent.mkdir(parents=True, exist_ok=True)
    for text in args.trial:
        trial, overrides = parse_trial(text)
        print(f"== trial {trial}: {overrides}", flush=True)
        record = run_trial(args, trial, overrides)
        append_jsonl(store, record)  # append-only: every trial stays on record
        shown = {k: v for k, v in record.items() if k != "curve"}
        print(json.dumps(shown), flush=True)
    plot(store, store.with_suffix(".png"))


if __name__ == "__main__":
    main()
