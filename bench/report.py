"""bench/results/speed.md from the results dictionary of bench/speed.py.

    python bench/report.py      # rewrite speed.md from speed.json (no measuring)

Everything in the tables is computed from the measured numbers (targets met or missed,
the engine's time per section, the top ops), so that a rerun on another machine writes
a report that is true for that machine. The report holds tables and links only: what
the figures show is read in bench/findings/speed.md, kept by hand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import RESULTS

VARIANTS = ("script", "tight", "engine", "engine_bf16")
MLP_MODELS = ("bigan", "aae", "cgan")  # fully-connected networks only


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f}"


def _rate(row: dict, variant: str) -> float:
    return row["steps_per_s"][variant]["median"]


def _gflops(row: dict, variant: str) -> float:
    return row["flops_per_step"][variant] * _rate(row, variant) / 1e9


def speed_table(models: dict) -> list[str]:
    lines = [
        "| model | batch | script | tight | engine | engine bf16 | engine/script | "
        "engine/tight | bf16/script |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in models.items():
        r = {v: _rate(row, v) for v in VARIANTS}
        lines.append(
            f"| {name} | {row['batch_size']} | {r['script']:.2f} | {r['tight']:.2f} | "
            f"{r['engine']:.2f} | {r['engine_bf16']:.2f} | {r['engine'] / r['script']:.2f}× | "
            f"{r['engine'] / r['tight']:.2f}× | {r['engine_bf16'] / r['script']:.2f}× |"
        )
    return lines


def spread_table(models: dict) -> list[str]:
    lines = [
        "| model | " + " | ".join(f"{v} min–max" for v in VARIANTS) + " |",
        "| --- |" + " ---: |" * len(VARIANTS),
    ]
    for name, row in models.items():
        cells = [
            f"{row['steps_per_s'][v]['min']:.2f}–{row['steps_per_s'][v]['max']:.2f}"
            for v in VARIANTS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def flops_table(models: dict, peak: dict) -> list[str]:
    lines = [
        "| model | GFLOP/step script | GFLOP/step engine | GFLOP/s tight | GFLOP/s engine | "
        "engine % fp32 peak | GFLOP/s bf16 | bf16 % bf16 peak |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in models.items():
        f = row["flops_per_step"]
        eng, bf = _gflops(row, "engine"), _gflops(row, "engine_bf16")
        lines.append(
            f"| {name} | {f['script'] / 1e9:.3f} | {f['engine'] / 1e9:.3f} | "
            f"{_gflops(row, 'tight'):.1f} | {eng:.1f} | {100 * eng / peak['fp32']:.0f}% | "
            f"{bf:.1f} | {100 * bf / peak['bf16']:.0f}% |"
        )
    return lines


def memory_table(models: dict) -> list[str]:
    lines = [
        "| model | params + optimizer state | data held: script / in-memory | "
        "step peak above start: script | tight | engine | engine bf16 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in models.items():
        d, p = row["data_bytes"], row["peak_step_bytes"]
        lines.append(
            f"| {name} | {_mib(row['state_bytes'])} | {_mib(d['script'])} / {_mib(d['engine'])} | "
            + " | ".join(_mib(p[v]) for v in VARIANTS)
            + " |"
        )
    return lines


def sections_table(models: dict) -> list[str]:
    names = ["data", "forward", "backward", "optimizer", "other"]
    lines = [
        "| model | " + " | ".join(f"{n} ms" for n in names) + " | top ops (engine, self CPU) |",
        "| --- |" + " ---: |" * len(names) + " --- |",
    ]
    for name, row in models.items():
        ms = row["engine_sections"]["ms_per_step"]
        ops = ", ".join(f"{o['op']} {100 * o['share']:.0f}%" for o in row["top_ops"]["engine"][:4])
        lines.append(f"| {name} | " + " | ".join(f"{ms[n]:.2f}" for n in names) + f" | {ops} |")
    return lines


def targets(models: dict, peak: dict) -> list[str]:
    """One line per target and model: met or missed, with the number."""
    out = []
    for name, row in models.items():
        r = {v: _rate(row, v) for v in VARIANTS}
        checks = [
            ("engine ≥ 1.3× script", r["engine"] / r["script"], 1.3),
            ("engine ≥ 0.97× tight", r["engine"] / r["tight"], 0.97),
            ("bf16 ≥ 2× script", r["engine_bf16"] / r["script"], 2.0),
        ]
        if name in MLP_MODELS:
            checks.append(("engine ≥ 50% fp32 peak", _gflops(row, "engine") / peak["fp32"], 0.5))
        cells = [
            f"{what}: {'met' if v >= goal else 'MISSED'} ({v:.2f})" for what, v, goal in checks
        ]
        out.append(f"- **{name}**: " + "; ".join(cells))
    return out


def _opt_rate(row: dict, variant: str) -> float | None:
    entry = row["steps_per_s"].get(variant)
    return entry["median"] if entry else None


def _best_engine(row: dict) -> float:
    """The fastest of the engine's modes (eager, bf16, compiled, auto) in this run."""
    return max(v["median"] for k, v in row["steps_per_s"].items() if k.startswith("engine"))


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "—"


def _num(x: float | None, digits: int = 2) -> str:
    """A table cell: the number, or a dash where it was not measured."""
    return "—" if x is None or x != x else f"{x:.{digits}f}"


def acceleration_table(models: dict) -> list[str]:
    """Compiled, auto-precision and reference-script columns (issue #17)."""
    lines = [
        "| model | engine | compiled | compiled/engine | first compiled step s | "
        "recompiles in windows | bf16/engine | auto (chose) | auto/engine | reference | "
        "best engine/reference |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in models.items():
        eng = _rate(row, "engine")
        comp, auto = _opt_rate(row, "engine_compiled"), _opt_rate(row, "engine_auto")
        info = row.get("compile", {})
        ref = row.get("reference", {}).get("median")
        chose = row.get("auto_precision", {}).get("value", "?")
        lines.append(
            f"| {name} | {eng:.2f} | {_num(comp)} | {_ratio(comp, eng)} | "
            f"{_num(info.get('first_step_seconds'), 1)} | "
            f"{info.get('graphs_in_timed_windows', '—')} | "
            f"{_ratio(_rate(row, 'engine_bf16'), eng)} | {_num(auto)} ({chose}) | "
            f"{_ratio(auto, eng)} | {_num(ref)} | {_ratio(_best_engine(row), ref)} |"
        )
    return lines


def acceleration_notes(models: dict) -> list[str]:
    """Why auto chose what it did, and any reference script that was not measured."""
    out = []
    reasons = {row.get("auto_precision", {}).get("reason") for row in models.values()}
    out += [f"- auto precision: {r}" for r in sorted(r for r in reasons if r)]
    for name, row in models.items():
        note = row.get("reference", {}).get("note")
        if note:
            out.append(f"- reference {name}: {note}")
        elif "reference" in row:
            ref = row["reference"]
            out.append(
                f"- reference {name}: `{ref['script']}` ({ref['checkout']}), {ref['steps']} "
                f"timed batches after 50 untimed, unmodified, in its own process"
            )
    return out


def acceleration_targets(models: dict, peak: dict) -> list[str]:
    out = []
    for name, row in models.items():
        eng, comp = _rate(row, "engine"), _opt_rate(row, "engine_compiled")
        checks = []
        if name == "clustergan":  # the conv model whose step is almost all kernels
            checks.append(("engine ≥ 60% fp32 peak", _gflops(row, "engine") / peak["fp32"], 0.6))
        if comp:
            goal = 1.5 if name in ("aae", "cgan") else 1.15
            checks.append((f"compiled ≥ {goal}× eager", comp / eng, goal))
        ref = row.get("reference", {}).get("median")
        if ref:
            checks.append(("best engine mode ≥ 2× reference", _best_engine(row) / ref, 2.0))
        if row.get("auto_precision", {}).get("value") == "bf16" and name in (
            "clustergan",
            "infogan",
        ):
            checks.append(("bf16 ≥ 1.5× fp32", _rate(row, "engine_bf16") / eng, 1.5))
        cells = [f"{w}: {'met' if v >= g else 'MISSED'} ({v:.2f})" for w, v, g in checks]
        if cells:
            out.append(f"- **{name}**: " + "; ".join(cells))
    return out


def markdown(results: dict) -> str:
    m, models = results["machine"], results["models"]
    peak = m["matmul_peak_gflops"]
    s = results["settings"]
    head = [
        "# Speed: engine vs hand-written PyTorch loops",
        "",
        "Written by `python bench/speed.py` (the protocol is in its docstring and in "
        "[bench/README.md](../README.md); the reading is in "
        "[bench/findings/speed.md](../findings/speed.md))"
        + (" **--smoke (not a measurement)**" if results["smoke"] else "")
        + f" in {results['seconds']:.0f} s. Machine: {m['cpu']}, {m['cores']} cores, "
        f"torch {m['torch']} ({m['torch_threads']} threads), Python {m['python']}. "
        f"Matmul peak measured in the same run ({peak['size']}² square matmuls, best window): "
        f"fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s. "
        f"1-minute load average at start / end: {m['load_average_at_start']:.1f} / "
        f"{m['load_average_at_end']:.1f}"
        + (
            " — **the machine was busy: these numbers are not trustworthy**"
            # at the end the load includes this benchmark's own threads: judge the start
            if m["load_average_at_start"] > 0.5 * m["cores"] and not results["smoke"]
            else ""
        )
        + ".",
        "",
        "Variants (bench/baselines.py, gan.core.engine): **script** = hand-written loop with "
        "the seeds' data path (torchvision `MNIST` + `DataLoader` with per-sample "
        "`Resize/ToTensor/Normalize`, numpy latents, `.item()` on the losses every step); "
        "**tight** = the same loop on in-memory tensors with index sampling and no per-step "
        "host sync; **engine** = `gan`'s Engine on `specs/<model>.toml`; **engine bf16** = "
        '`train.precision = "bf16"` (CPU autocast). Same networks (gan\'s factories, same '
        "seed), same losses and optimizer hyper-parameters, the spec's batch size.",
        "",
        f"## Steps per second (median of {s['repeats']} interleaved windows of ≥ "
        f"{s['seconds']:g} s each, after a warm-up)",
        "",
        *speed_table(models),
        "",
        "Spread of the windows (steps/s):",
        "",
        *spread_table(models),
        "",
        "## Targets (issue #5)",
        "",
        *targets(models, peak),
        "- bf16 quality (the model's metric within noise of fp32) is not measured here: "
        "this benchmark times steps only.",
        "",
        "## Compiled, auto precision and the PyTorch-GAN scripts (issue #17)",
        "",
        "**compiled** = `train.compile = true` (each network through `torch.compile`, "
        "Inductor); its first step's seconds include compiling, and a recompile inside the "
        'timed windows would show in its column. **auto** = `train.precision = "auto"`. '
        "**reference** = the PyTorch-GAN script itself (bench/reference.py), timed from "
        "its per-batch prints; its data path, `.item()` calls and prints are part of it.",
        "",
        *acceleration_table(models),
        "",
        *acceleration_notes(models),
        "",
        *acceleration_targets(models, peak),
        "",
        "## FLOPs and achieved throughput",
        "",
        "FLOPs per step from `torch.utils.flop_counter.FlopCounterMode` over one step "
        "(matmuls and convolutions, forward + backward, including the gradient penalty's "
        "double backward; element-wise work is not counted). The engine computes fewer "
        "FLOPs than the loops where a phase's frozen networks need no weight gradients.",
        "",
        *flops_table(models, peak),
        "",
        "## Memory",
        "",
        "MiB. *params + optimizer state*: parameters, buffers and Adam moments of every "
        "phase's optimizer (the loops hold the same set). *data held*: the uint8 dataset "
        "behind the DataLoader vs the pre-transformed float32 images in memory. *step "
        "peak above start*: the largest tensor memory one step allocates on top of what "
        "was live when it started (activations, gradients, temporaries), from the torch "
        "profiler's CPU allocation events. Not the process RSS.",
        "",
        *memory_table(models),
        "",
        "## Where the engine's time goes",
        "",
        "From `gan bench` (gan.tools.bench: the engine's opt-in section timer); `forward` "
        "includes the loss terms (and the gradient penalty's `autograd.grad`), `optimizer` "
        "includes `zero_grad`. Top ops: self CPU time of one profiled step.",
        "",
        *sections_table(models),
        "",
    ]
    return "\n".join(head)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=RESULTS, help="the folder of speed.json")
    args = p.parse_args(argv)
    results = json.loads((args.out / "speed.json").read_text())
    (args.out / "speed.md").write_text(markdown(results))
    print(f"wrote {args.out / 'speed.md'}")


if __name__ == "__main__":
    main()
