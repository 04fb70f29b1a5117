"""Speed of the engine against hand-written PyTorch loops, for the five shipped models.

    python bench/speed.py            # ~15 min on 2 cores; rewrites bench/results/speed.*
    python bench/speed.py --smoke    # a few steps of everything, into a temporary folder

For each model (its spec's batch size and networks), in one process, interleaved:

* ``script``      hand-written loop, the seeds' data path (bench/baselines.py);
* ``tight``       the same loop on in-memory tensors, no per-step host sync;
* ``engine``      ``gan``'s Engine on specs/<model>.toml;
* ``engine_bf16`` the same with ``train.precision = "bf16"`` (CPU autocast);
* ``engine_compiled`` the engine with ``train.compile = true`` (each network compiled
  by Inductor; its compile seconds and any recompiles in the timed windows recorded);
* ``engine_auto`` the engine with ``train.precision = "auto"`` (bf16 where the CPU has
  AVX512-BF16/AMX, fp32 elsewhere: the choice and its reason are recorded);
* ``reference`` the PyTorch-GAN script itself (cgan, aae, infogan; bench/reference.py),
  unmodified, in a subprocess, skipped with a note where its checkout is absent.

Reported: steps/s (median of interleaved windows, after a warm-up), the ratios, FLOPs
per step (FlopCounterMode), achieved GFLOP/s against an fp32/bf16 matmul peak measured
in the same run, memory, and where the engine's time goes (gan.tools.bench).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # the profiler's banner lines, off

import baselines
import measure
import reference
import report
import torch
from common import MODELS, REPO, RESULTS, add_data_root, command_line

from gan.core.acceleration import graphs_compiled
from gan.core.data import load_data
from gan.core.resolve import resolve
from gan.core.spec import load_spec
from gan.tools.bench import make_engine, time_steps

CPU = torch.device("cpu")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="a few steps of everything (CI)")
    p.add_argument("--out", type=Path, help="results folder (default bench/results; smoke: tmp)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    add_data_root(p)
    p.add_argument("--repeats", type=int, default=5, help="timed windows per variant")
    p.add_argument("--seconds", type=float, default=3.0, help="length of one window")
    p.add_argument("--batch-size", type=int, help="override the specs' batch size")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--no-compile", action="store_true", help="skip the compiled variant")
    p.add_argument(
        "--reference",
        default=reference.URL,
        help="where to clone PyTorch-GAN from when bench/reference/ lacks it ('' skips)",
    )
    p.add_argument(
        "--reference-steps", type=int, default=800, help="timed batches of each reference script"
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke:
        # not a measurement: one thread keeps it quick even on a loaded CI machine
        torch.set_num_threads(1)
        args.repeats, args.seconds = 1, 0.0
        args.batch_size = args.batch_size or 8
        args.out = args.out or Path(tempfile.mkdtemp(prefix="gan-bench-smoke-"))
        args.no_compile, args.reference = True, ""  # minutes of compiling; a clone
    args.out = args.out or RESULTS
    return args


def model_spec(name: str, args: argparse.Namespace, *extra: str):
    # in this process: the folder as given (a relative one would depend on the cwd)
    root = json.dumps(str(args.data_root))
    overrides = [f"data.root={root}", "train.device=cpu", *extra]
    if args.batch_size:
        overrides.append(f"train.batch_size={args.batch_size}")
    if args.smoke and name == "clustergan":
        overrides.append("phases.critic.repeat=1")  # smoke: the path, not the n_critic cost
    return load_spec(REPO / "specs" / f"{name}.toml", overrides)


def build_variants(name: str, args: argparse.Namespace) -> tuple[dict, dict]:
    """The four step functions of one model, and what is needed to describe them."""
    spec = model_spec(name, args)
    model = resolve(spec)
    t = spec.train
    images, labels = load_data(model)
    script_src = baselines.ScriptSource(
        args.data_root, model.context.image_shape[-1], t.batch_size, t.seed
    )
    script, _ = baselines.build(name, model, script_src)
    tight_src = baselines.TightSource(images, labels, t.batch_size, t.seed)
    tight, _ = baselines.build(name, model, tight_src)
    engine = make_engine(spec, CPU, (images, labels))
    bf16 = make_engine(model_spec(name, args, 'train.precision="bf16"'), CPU, (images, labels))
    auto = make_engine(model_spec(name, args, 'train.precision="auto"'), CPU, (images, labels))
    steps = {
        "script": script,
        "tight": tight,
        "engine": engine.step,
        "engine_bf16": bf16.step,
        "engine_auto": auto.step,
    }
    if not args.no_compile:
        compiled = make_engine(model_spec(name, args, "train.compile=true"), CPU, (images, labels))
        steps["engine_compiled"] = compiled.step
    info = {
        "batch_size": t.batch_size,
        "image_shape": list(model.context.image_shape),
        "data_bytes": {
            "script": script_src.data_bytes(),
            "tight": tight_src.data_bytes(),
            "engine": engine.data.images.nbytes + engine.data.labels.nbytes,
        },
        "state_bytes": measure.state_bytes(
            list(engine.networks.values()), list(engine.optimizers.values())
        ),
        "engine": engine,
        "auto_precision": {"value": auto.precision.value, "reason": auto.precision.reason},
    }
    return steps, info


MEASURED_ONCE = ("script", "tight", "engine", "engine_bf16")  # FLOPs and profiles


def bench_model(name: str, args: argparse.Namespace) -> dict:
    steps, info = build_variants(name, args)
    engine = info.pop("engine")
    compile_info = {}
    if "engine_compiled" in steps:
        graphs, start = graphs_compiled(), time.perf_counter()
        steps["engine_compiled"]()  # the first step compiles (train mode, both grad states)
        compile_info["first_step_seconds"] = time.perf_counter() - start
        compile_info["graphs_first_step"] = graphs_compiled() - graphs
    warm = {k: measure.warm_up(s, 0.0 if args.smoke else 1.5, 1) for k, s in steps.items()}
    once = {k: s for k, s in steps.items() if k in MEASURED_ONCE}
    flops = {k: measure.flops_per_step(s) for k, s in once.items()}
    profiles = {k: measure.profile_step(s) for k, s in once.items()}
    # about one window's worth of engine steps (ClusterGAN takes seconds per step)
    n_sections = max(2, round(args.seconds * warm["engine"]))
    sections = time_steps(engine, n_sections, warmup=0).as_dict()
    graphs = graphs_compiled() if compile_info else 0
    rates = measure.interleaved_rates(steps, args.repeats, args.seconds, 1)
    if compile_info:
        compile_info["graphs_in_timed_windows"] = graphs_compiled() - graphs
    row = {
        **info,
        "steps_per_s": {k: measure.summary(v) for k, v in rates.items()},
        "flops_per_step": flops,
        "peak_step_bytes": {k: p["peak_bytes"] for k, p in profiles.items()},
        "top_ops": {k: p["top_ops"] for k, p in profiles.items()},
        "engine_sections": sections,
        "compile": compile_info or {"note": "not measured (--no-compile or --smoke)"},
    }
    if name in reference.SCRIPTS:
        row["reference"] = reference_rate(name, args)
    return row


def reference_rate(name: str, args: argparse.Namespace) -> dict:
    """The PyTorch-GAN script's steps/s, or why there is none."""
    if not args.reference:
        return {"note": "not measured (--reference '' or --smoke)"}
    folder, how = reference.checkout(args.reference)
    if folder is None:
        return {"note": how}
    steps = args.reference_steps if name in report.MLP_MODELS else args.reference_steps // 4
    result = reference.time_script(
        name, folder, args.data_root, steps, threads=torch.get_num_threads()
    )
    return {**result, "checkout": how}


def machine(args: argparse.Namespace) -> dict:
    size, secs = (256, 0.05) if args.smoke else (1024, 1.0)
    return measure.cpu_facts(size, secs)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    start = time.perf_counter()
    results = {"smoke": args.smoke, "machine": machine(args), "models": {}}
    results["settings"] = {"repeats": args.repeats, "seconds": args.seconds}
    results["command"] = command_line("python bench/speed.py", argv)
    for name in args.models:
        t0 = time.perf_counter()
        results["models"][name] = bench_model(name, args)
        row = results["models"][name]["steps_per_s"]
        rates = " ".join(f"{k}={v['median']:.2f}" for k, v in row.items())
        print(f"{name}: {rates} steps/s ({time.perf_counter() - t0:.0f} s)", flush=True)
    results["seconds"] = time.perf_counter() - start
    results["machine"]["load_average_at_end"] = os.getloadavg()[0]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "speed.md").write_text(report.markdown(results))
    print(f"wrote {args.out / 'speed.md'} and speed.json in {results['seconds']:.0f} s")
    return results


if __name__ == "__main__":
    main()
