"""Steps per second of the five shipped models on a CUDA GPU: fp32, bf16 and compiled.

    python bench/speed_gpu.py --data-root PATH/mnist          # ~3 min on an H100
    python bench/speed_gpu.py --smoke --device cpu            # the code path, anywhere
    python bench/speed_gpu.py --report-only                   # rewrite speed_gpu.md

Needs a CUDA GPU (bench/gpu_check.sh runs it with the recipe trials as one command);
nothing in CI needs one. For each model (its spec's batch size and networks), in one
process, the variants are built on the same data and timed in interleaved windows
(bench/measure.py) with a ``torch.cuda.synchronize`` at each window's ends and every 10
steps, never within a step (a per-section sync, as ``gan bench`` does to split the
time, would serialise the GPU's queue and understate it):

* ``fp32``      the engine as the spec has it;
* ``bf16``      ``train.precision = "bf16"`` (autocast);
* ``compiled``  ``train.compile = true`` (Inductor, mode "default"); its first step's
  seconds and the graphs it compiled are reported apart;
* ``compiled_bf16`` both.

(``compile_mode = "reduce-overhead"``, CUDA graphs, is refused by the engine on a GPU:
it failed for every model on an H100, see bench/results/speed_gpu.md.)

The eager variants of every model are timed first and the compiled ones after, inside a
time budget (``--compile-budget``), so a slow or failing compile cannot cost the eager
figures. A variant that fails is recorded with its error, not retried. The run is
appended to the ``runs`` of ``speed_gpu.json`` in ``--out`` (earlier runs stay) and
``speed_gpu.md`` is rewritten from all of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import traceback
from pathlib import Path

import measure
import torch
from common import MODELS, REPO, RESULTS, add_data_root, command_line

from gan.core.acceleration import graphs_compiled
from gan.core.data import load_data
from gan.core.resolve import resolve
from gan.core.spec import load_spec
from gan.tools.bench import make_engine

EAGER = {"fp32": [], "bf16": ['train.precision="bf16"']}
COMPILED = {
    "compiled": ["train.compile=true"],  # Inductor, mode "default"
    "compiled_bf16": ["train.compile=true", 'train.precision="bf16"'],
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add_data_root(p)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--device", default="cuda")
    p.add_argument("--repeats", type=int, default=3, help="timed windows per variant")
    p.add_argument("--seconds", type=float, default=2.0, help="length of one window")
    p.add_argument("--compile-budget", type=float, default=240.0, help="seconds for compiling")
    p.add_argument(
        "--variants", nargs="+", choices=[*EAGER, *COMPILED], default=[*EAGER, *COMPILED]
    )
    p.add_argument("--smoke", action="store_true", help="a few steps of each, no compile")
    p.add_argument("--report-only", action="store_true", help="rewrite speed_gpu.md only")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats, args.seconds, args.compile_budget = 1, 0.0, 0.0
    return args


def build(
    name: str, args: argparse.Namespace, variants: dict, device: torch.device
) -> tuple[int, dict]:
    """The spec's batch size, and the engines of one model's variants on one copy of
    the data (or each one's error)."""
    base = [f"data.root={json.dumps(str(args.data_root))}", f"train.device={args.device}"]
    spec = load_spec(REPO / "specs" / f"{name}.toml", base)
    data = load_data(resolve(spec))
    engines: dict = {}
    for variant, extra in variants.items():
        try:
            engine = make_engine(
                load_spec(REPO / "specs" / f"{name}.toml", base + extra), device, data
            )
            engine.train_mode(True)
            engines[variant] = engine
        except Exception as exc:  # recorded; the other variants still run
            engines[variant] = exc
    return spec.train.batch_size, engines


def time_variants(engines: dict, args: argparse.Namespace, device: torch.device) -> dict:
    rows: dict = {}
    live = {}
    sync = measure.cuda_sync(device)
    for variant, engine in engines.items():
        if isinstance(engine, Exception):
            rows[variant] = {"error": f"{type(engine).__name__}: {engine}"}
            continue
        try:
            graphs, start = graphs_compiled(), time.perf_counter()
            engine.step()  # the first step: compilation and CUDA-graph capture happen here
            if sync:
                sync()
            first = time.perf_counter() - start
            measure.timed_window(engine.step, 0.0 if args.smoke else 1.0, 5, sync)  # warm-up
            rows[variant] = {
                "first_step_seconds": round(first, 2),
                "graphs_first_steps": graphs_compiled() - graphs,
                "precision": vars(engine.precision),
                "compile": vars(engine.compiled),
            }
            live[variant] = engine.step
        except Exception as exc:
            rows[variant] = {"error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc()
    errors: dict[str, str] = {}
    rates = measure.interleaved_rates(live, args.repeats, args.seconds, 3, sync, errors)
    for variant, message in errors.items():
        rows[variant]["error"] = message
    for variant, values in rates.items():
        if values:
            rows[variant]["steps_per_s"] = round(statistics.median(values), 2)
            rows[variant]["windows"] = [round(v, 2) for v in values]
    return rows


def variant_names(run: dict) -> list[str]:
    """The variants of a run's models, in the order they were first timed."""
    names: list[str] = []
    for row in run["models"].values():
        names += [v for v in row["variants"] if v not in names]
    return names


def run_table(run: dict) -> list[str]:
    """Steps/s of every model and variant of one run, each variant also as a ratio to
    the same run's fp32."""
    names = variant_names(run)
    others = [v for v in names if v != "fp32"]
    lines = [
        "| model | batch | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"{v}/fp32" for v in others)
        + " | first compiled step |",
        "| --- | ---: |" + " ---: |" * (len(names) + len(others) + 1),
    ]
    for name, row in run["models"].items():
        v = row["variants"]

        def rate(key: str, v: dict = v) -> str:
            r = v.get(key, {})
            if "steps_per_s" in r:
                return f"{r['steps_per_s']:.1f}"
            return "fails" if "error" in r else ("skipped" if "skipped" in r else "—")

        def ratio(key: str, v: dict = v) -> str:
            a, b = v.get(key, {}).get("steps_per_s"), v.get("fp32", {}).get("steps_per_s")
            return f"{a / b:.2f}×" if a and b else "—"

        first = v.get("compiled", {}).get("first_step_seconds")
        lines.append(
            f"| {name} | {row.get('batch_size', '?')} | "
            + " | ".join(rate(k) for k in names)
            + " | "
            + " | ".join(ratio(k) for k in others)
            + f" | {f'{first:.0f} s' if first else '—'} |"
        )
    return lines


def render(store: dict) -> str:
    """speed_gpu.md: every run's table, its note and its failures (tables and links
    only; what they show is read in bench/findings/speed.md)."""
    lines = [
        "# Speed on a GPU",
        "",
        "Written by `python bench/speed_gpu.py` from `speed_gpu.json` (the protocol is in "
        "its docstring and in [bench/README.md](../README.md); the reading is in "
        "[bench/findings/speed.md](../findings/speed.md)). Steps/s: median of interleaved "
        "windows after a warm-up; a step is one iteration of all the spec's phases "
        "(ClusterGAN's includes its 5 critic steps). `bf16` is "
        '`train.precision = "bf16"` (autocast); `compiled` is `train.compile = true` '
        "(Inductor's default mode); the first compiled step (compilation) is timed apart.",
    ]
    for run in runs_of(store):
        m = run["machine"]
        lines += [
            "",
            f"## {run['date']}",
            "",
            f"**{m.get('gpu', run['device'])}** (torch {m['torch']}, CUDA {m.get('cuda')}, "
            f"Python {m.get('python')}), by `{run['command']}`."
            + (f" {run['note']}" if run.get("note") else ""),
            "",
            *run_table(run),
        ]
        errors = [
            f"- {name} `{variant}`: {(r['error'].splitlines() or [''])[0][:300]}"
            for name, row in run["models"].items()
            for variant, r in row["variants"].items()
            if "error" in r
        ]
        if errors:
            lines += ["", "Variants that failed:", "", *errors]
    return "\n".join(lines) + "\n"


def runs_of(store: dict) -> list[dict]:
    """The runs of a speed_gpu.json: ``{"runs": [...]}``, or one run on its own."""
    return store.get("runs", [store])


def write(run: dict, out: Path) -> None:
    """Both files after every model, so that a run cut short keeps what it measured;
    earlier runs in the store stay (the current one, by date and command, is replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "speed_gpu.json"
    store = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    store = {**store, "runs": runs_of(store)}
    key = (run["date"], run["command"])
    store["runs"] = [r for r in store["runs"] if (r["date"], r["command"]) != key] + [run]
    path.write_text(json.dumps(store, indent=1) + "\n")
    (out / "speed_gpu.md").write_text(render(store))


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.report_only:
        store = json.loads((args.out / "speed_gpu.json").read_text())
        (args.out / "speed_gpu.md").write_text(render(store))
        return store
    device = torch.device(args.device)
    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": str(device),
        "machine": measure.gpu_facts(device),
        "command": command_line("python bench/speed_gpu.py", argv),
        "models": {},
    }
    for name in args.models:  # eager first: a compile that hangs cannot cost these
        eager = {k: v for k, v in EAGER.items() if k in args.variants}
        batch_size, engines = build(name, args, eager, device)
        result["models"][name] = {
            "batch_size": batch_size,
            "variants": time_variants(engines, args, device),
        }
        del engines
        print(name, json.dumps(result["models"][name]["variants"]), flush=True)
        write(result, args.out)
    # compiled variants after every eager one, one variant across all models at a time,
    # within the budget (Inductor's compile and CUDA-graph capture take tens of seconds)
    deadline = time.perf_counter() + args.compile_budget
    for variant, extra in COMPILED.items():
        if variant not in args.variants:
            continue
        for name in args.models:
            variants = result["models"][name]["variants"]
            if time.perf_counter() > deadline:
                variants[variant] = {"skipped": "the compile budget was spent"}
                continue
            _, engines = build(name, args, {variant: extra}, device)
            variants.update(time_variants(engines, args, device))
            del engines
            print(name, variant, json.dumps(variants[variant]), flush=True)
            write(result, args.out)
    write(result, args.out)
    return result


if __name__ == "__main__":
    main()
