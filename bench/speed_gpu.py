"""Steps per second of the five shipped models on a CUDA GPU: fp32, bf16 and compiled.

    python bench/speed_gpu.py --data-root PATH/mnist          # ~3 min on an H100
    python bench/speed_gpu.py --smoke --device cpu            # the code path, anywhere

Run on a lent GPU machine (the ``device`` tool); nothing in CI needs one. For each model
(its spec's batch size and networks), in one process, the variants are built on the same
data and timed in interleaved windows with a ``torch.cuda.synchronize`` at each window's
ends and every 10 steps, never within a step (a per-section sync, as ``gan bench`` does
to split the time, would serialise the GPU's queue and understate it):

* ``fp32``      the engine as the spec has it;
* ``bf16``      ``train.precision = "bf16"`` (autocast);
* ``compiled``  ``train.compile = true`` (Inductor, mode "default"); its first step's
  seconds and the graphs it compiled are reported apart;
* ``compiled_bf16`` both.

(``compile_mode = "reduce-overhead"``, CUDA graphs, is refused by the engine on a GPU:
it failed for every model on an H100, see bench/results/speed_gpu.md.)

The eager variants of every model are timed first and the compiled ones after, inside a
time budget (``--compile-budget``), so a slow or failing compile cannot cost the eager
figures. A variant that fails is recorded with its error, not retried. Writes
``speed_gpu.json`` and ``speed_gpu.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import measure

from gan.core.acceleration import graphs_compiled
from gan.core.data import load_data
from gan.core.resolve import resolve
from gan.core.spec import load_spec
from gan.tools.bench import make_engine

REPO = Path(__file__).resolve().parents[1]
MODELS = ("bigan", "clustergan", "infogan", "aae", "cgan")
EAGER = {"fp32": [], "bf16": ['train.precision="bf16"']}
COMPILED = {
    "compiled": ["train.compile=true"],  # Inductor, mode "default"
    "compiled_bf16": ["train.compile=true", 'train.precision="bf16"'],
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-root", type=Path, required=True, help="MNIST IDX folder")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--device", default="cuda")
    p.add_argument("--repeats", type=int, default=3, help="timed windows per variant")
    p.add_argument("--seconds", type=float, default=2.0, help="length of one window")
    p.add_argument("--compile-budget", type=float, default=240.0, help="seconds for compiling")
    p.add_argument(
        "--variants", nargs="+", choices=[*EAGER, *COMPILED], default=[*EAGER, *COMPILED]
    )
    p.add_argument("--smoke", action="store_true", help="a few steps of each, no compile")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats, args.seconds, args.compile_budget = 1, 0.0, 0.0
    return args


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def window(step, device: torch.device, seconds: float, min_steps: int = 3) -> float:
    """Steps/s over one window, device work included (measure.timed_window)."""
    return measure.timed_window(step, seconds, min_steps, lambda: sync(device))


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
    for variant, engine in engines.items():
        if isinstance(engine, Exception):
            rows[variant] = {"error": f"{type(engine).__name__}: {engine}"}
            continue
        try:
            graphs, start = graphs_compiled(), time.perf_counter()
            engine.step()  # the first step: compilation and CUDA-graph capture happen here
            sync(device)
            first = time.perf_counter() - start
            window(engine.step, device, 0.0 if args.smoke else 1.0, 5)  # warm-up
            rows[variant] = {
                "first_step_seconds": round(first, 2),
                "graphs_first_steps": graphs_compiled() - graphs,
                "precision": vars(engine.precision),
                "compile": vars(engine.compiled),
            }
            live[variant] = engine
        except Exception as exc:
            rows[variant] = {"error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc()
    rates: dict[str, list[float]] = {v: [] for v in live}
    for r in range(args.repeats):
        order = list(live)[r % max(1, len(live)) :] + list(live)[: r % max(1, len(live))]
        for variant in order:
            try:
                rates[variant].append(window(live[variant].step, device, args.seconds))
            except Exception as exc:
                rows[variant]["error"] = f"{type(exc).__name__}: {exc}"
    for variant, values in rates.items():
        if values:
            rows[variant]["steps_per_s"] = round(statistics.median(values), 2)
            rows[variant]["windows"] = [round(v, 2) for v in values]
    return rows


def machine(device: torch.device) -> dict:
    info = {"torch": torch.__version__, "python": platform.python_version()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=torch.cuda.get_device_name(device),
            multiprocessors=props.multi_processor_count,
            memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
        )
    return info


def render(result: dict) -> str:
    m = result["machine"]
    lines = [
        "# Speed on a GPU",
        "",
        f"Measured {result['date']} on **{m.get('gpu', result['device'])}** "
        f"(torch {m['torch']}, CUDA {m.get('cuda')}), by `{result['command']}`.",
        "Steps/s: median of interleaved windows after a warm-up; a step is one iteration of",
        "all the spec's phases (ClusterGAN's includes its 5 critic steps). `bf16` is",
        '`train.precision = "bf16"` (autocast); `compiled` is `train.compile = true`',
        "(Inductor's default mode); the first compiled step (compilation) is timed apart.",
        "",
        "| model | batch | fp32 | bf16 | compiled | compiled + bf16 | "
        "bf16/fp32 | compiled/fp32 | first compiled step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in result["models"].items():
        v = row["variants"]

        def rate(key: str, v: dict = v) -> str:
            r = v.get(key, {})
            if "steps_per_s" in r:
                return f"{r['steps_per_s']:.1f}"
            return "error" if "error" in r else "—"

        def ratio(key: str, v: dict = v) -> str:
            a, b = v.get(key, {}).get("steps_per_s"), v.get("fp32", {}).get("steps_per_s")
            return f"{a / b:.2f}×" if a and b else "—"

        first = v.get("compiled", {}).get("first_step_seconds")
        lines.append(
            f"| {name} | {row.get('batch_size', '?')} | {rate('fp32')} | {rate('bf16')} | "
            f"{rate('compiled')} | {rate('compiled_bf16')} | "
            f"{ratio('bf16')} | {ratio('compiled')} | "
            f"{f'{first:.0f} s' if first else '—'} |"
        )
    errors = [
        f"- {name} `{variant}`: {r['error'][:300]}"
        for name, row in result["models"].items()
        for variant, r in row["variants"].items()
        if "error" in r
    ]
    if errors:
        lines += ["", "Variants that failed:", "", *errors]
    return "\n".join(lines) + "\n"


def write(result: dict, out: Path) -> None:
    """Both files after every model: a run cut short keeps what it measured."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed_gpu.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "speed_gpu.md").write_text(render(result))


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    device = torch.device(args.device)
    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": str(device),
        "machine": machine(device),
        "command": "python bench/speed_gpu.py " + " ".join(sys.argv[1:] if argv is None else argv),
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
