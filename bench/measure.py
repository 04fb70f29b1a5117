"""Timing and machine facts shared by the speed benchmarks (bench/speed.py on the CPU,
bench/speed_gpu.py on a CUDA GPU): timed windows of steps, interleaved variants, FLOPs
per step, the transient memory of one step, the matmul peak and the machine's facts.

Everything runs in the benchmark's own process, so the matmul peak and the models'
throughput are measured under the same load (a CPU may be shared and noisy).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import torch
from torch.utils.flop_counter import FlopCounterMode

Step = Callable[[], None]


def timed_window(
    step: Step, seconds: float, min_steps: int, sync: Callable[[], None] | None = None
) -> float:
    """Steps per second over one window: at least ``min_steps`` steps and ``seconds``.

    ``sync`` (e.g. ``torch.cuda.synchronize``) waits for queued device work: called at
    the window's ends, so the clock counts that work, and every 10 steps, so the host
    cannot run far ahead of the device and end the window early."""
    if sync is not None:
        sync()
    start = time.perf_counter()
    n = 0
    while n < min_steps or time.perf_counter() - start < seconds:
        step()
        n += 1
        if sync is not None and n % 10 == 0:
            sync()
    if sync is not None:
        sync()
    return n / (time.perf_counter() - start)


def warm_up(step: Step, seconds: float, min_steps: int) -> float:
    """Steps not counted in the results (first-call allocations, oneDNN primitive
    caches, optimizer state); returns their rate as a rough estimate."""
    return timed_window(step, seconds, min_steps)


def interleaved_rates(
    steps: dict[str, Step],
    repeats: int,
    seconds: float,
    min_steps: int,
    sync: Callable[[], None] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, list[float]]:
    """One window per variant per repeat, the variants' order rotated every repeat, so
    that load changes on the machine hit every variant alike.

    With ``errors`` given, a variant whose step raises is recorded there (``Type:
    message``) and not timed again, and the others go on; without it, the error
    propagates."""
    names = list(steps)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        live = [n for n in names if errors is None or n not in errors]
        order = live[r % max(1, len(live)) :] + live[: r % max(1, len(live))]
        for name in order:
            try:
                rates[name].append(timed_window(steps[name], seconds, min_steps, sync))
            except Exception as exc:
                if errors is None:
                    raise
                errors[name] = f"{type(exc).__name__}: {exc}"
    return rates


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker: every op counts as 'Global'."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def flops_per_step(step: Step) -> int:
    """FLOPs of one step as counted by FlopCounterMode (matmuls and convolutions,
    forward and backward; element-wise work is not counted)."""
    counter = FlopCounterMode(display=False)
    # Only the global count is wanted; the per-module tracker's autograd hooks reject a
    # gradient penalty's autograd.grad(..., x_hat) on a leaf, so it is swapped out.
    counter.mod_tracker = _GlobalOnly()
    with counter:
        step()
    return int(counter.get_total_flops())


def profile_step(step: Step, top: int = 6) -> dict:
    """One step under the torch profiler: its transient memory peak and its top ops.

    ``peak_bytes`` is the largest amount of tensor memory the step holds *above* what
    was allocated when it started (activations, gradients, temporaries), from the CPU
    allocator's allocation/free events replayed in time order. ``top_ops`` lists the
    ops with the most self CPU time (one step: indicative, not a measurement)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    # private but long-lived: the raw allocation/free events with their byte counts
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops) or 1.0
    top_ops = [
        {
            "op": e.key,
            "ms": e.self_cpu_time_total / 1000,
            "share": e.self_cpu_time_total / total,
            "calls": e.count,
        }
        for e in ops[:top]
    ]
    return {"peak_bytes": peak, "top_ops": top_ops}


def state_bytes(modules: list[torch.nn.Module], optimizers: list[torch.optim.Optimizer]) -> int:
    """Parameters, buffers and optimizer state (moments), counted once each."""
    seen: dict[int, int] = {}
    for m in modules:
        for t in [*m.parameters(), *m.buffers()]:
            seen[id(t)] = t.nbytes
    for opt in optimizers:
        for state in opt.state.values():
            for v in state.values():
                if isinstance(v, torch.Tensor):
                    seen[id(v)] = v.nbytes
    return sum(seen.values())


def matmul_peak(dtype: torch.dtype, size: int, seconds: float, repeats: int = 3) -> float:
    """Best GFLOP/s of square matmuls of ``size`` in ``dtype`` over ``repeats`` windows."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    flop = 2 * size**3

    def step() -> None:
        torch.mm(a, b)

    warm_up(step, seconds / 4, 2)
    best = max(timed_window(step, seconds, 2) for _ in range(repeats))
    return best * flop / 1e9


def summary(rates: list[float]) -> dict[str, float | list[float]]:
    """Median, min and max of a variant's windows (median is what is reported)."""
    return {"median": median(rates), "min": min(rates), "max": max(rates), "all": rates}


def cuda_sync(device: torch.device) -> Callable[[], None] | None:
    """What timed_window calls to wait for a device's queued work (None on the CPU)."""
    if device.type != "cuda":
        return None
    return lambda: torch.cuda.synchronize(device)


def software() -> dict[str, str]:
    """The versions a figure depends on."""
    return {"torch": torch.__version__, "python": platform.python_version()}


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo where there is one)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        lines = info.read_text().splitlines()
        names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
        if names:
            return names[0]
    return platform.processor() or platform.machine()


def cpu_facts(peak_size: int, peak_seconds: float) -> dict:
    """The CPU, its load, torch's threads, and fp32/bf16 matmul peaks measured now."""
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        # other processes' load: OpenMP threads collapse when the cores are oversubscribed
        "load_average_at_start": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        **software(),
        "matmul_peak_gflops": {
            "fp32": matmul_peak(torch.float32, peak_size, peak_seconds),
            "bf16": matmul_peak(torch.bfloat16, peak_size, peak_seconds),
            "size": peak_size,
        },
    }


def gpu_facts(device: torch.device) -> dict:
    """The GPU's name, multiprocessors, memory and CUDA version (software only on the
    CPU)."""
    info: dict = software()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=torch.cuda.get_device_name(device),
            multiprocessors=props.multi_processor_count,
            memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
        )
    return info
