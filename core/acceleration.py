"""How a step runs fast on this machine: the precision ``auto`` chooses and compiled
networks (``train.precision``, ``train.compile``).

Both choices depend on the hardware, never on the model, and both are explained: the
engine keeps the reason beside the choice so that ``gan bench`` and ``run.json`` can say
why a run trained in bfloat16 or compiled its networks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan.core.errors import SpecError

__all__ = [
    "Choice",
    "choose_compile",
    "choose_precision",
    "compile_networks",
    "graphs_compiled",
    "twice_differentiated",
]


@dataclass(frozen=True)
class Choice:
    """What was chosen for a setting and why (one sentence)."""

    value: str
    reason: str


def _cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_native_bf16() -> tuple[bool, str]:
    """Whether oneDNN runs bf16 matmuls natively here (AVX512-BF16 or AMX), and which."""
    probes = {
        "AMX": getattr(torch.cpu, "_is_amx_tile_supported", None),
        "avx512_bf16": getattr(torch.cpu, "_is_avx512_bf16_supported", None),
    }
    for name, probe in probes.items():
        if probe is not None:
            try:
                if probe():
                    return True, name
            except RuntimeError:
                pass
    flags = _cpu_flags()  # older torch without the probes
    for name, flag in (("AMX", "amx_bf16"), ("avx512_bf16", "avx512_bf16")):
        if flag in flags:
            return True, name
    return False, ""


def choose_precision(requested: str, device: torch.device) -> Choice:
    """``train.precision``: an explicit choice is kept; ``auto`` picks bf16 where the
    hardware computes it natively *and* it was measured faster for the shipped models:
    a CPU with AVX512-BF16/AMX (1.65–1.92×, bench/results/speed.md). On a CUDA GPU
    ``auto`` stays fp32: on an H100 the five models' steps are launch-bound (a few
    milliseconds of small kernels), and autocast's casts made them 0.82–0.94× as fast
    (bench/results/speed_gpu.md, 2026-11-26); ``bf16`` still selects it explicitly, for
    networks large enough to gain."""
    if requested != "auto":
        return Choice(requested, "set in the spec")
    if device.type == "cuda":
        return Choice(
            "fp32",
            "auto: fp32 on the GPU (bf16 autocast measured 0.82-0.94x on an H100 for the "
            "shipped models; set train.precision = 'bf16' to use it anyway)",
        )
    if device.type == "cpu":
        native, isa = cpu_has_native_bf16()
        if native:
            return Choice("bf16", f"auto: the CPU has {isa} (oneDNN runs bf16 natively)")
        return Choice("fp32", "auto: the CPU lacks avx512_bf16/AMX (bf16 would be emulated)")
    return Choice("fp32", f"auto: no bf16 rule for device '{device.type}'")


def choose_compile(requested: bool | str, device: torch.device) -> Choice:
    """``train.compile``: ``auto`` stays eager, because compiling was measured slower
    wherever it was measured: on the CPU for 4 of the 5 shipped models (0.85–0.95×;
    1.27× for CGAN: bench/results/speed.md), where their steps are oneDNN/MKL kernels
    that Inductor calls unchanged or too short to repay a compiled module's guards; and
    on an H100 for all four that compiled (0.73–0.90×, bench/results/speed_gpu.md), where
    ClusterGAN's compile also failed inside torch 2.11's convolution backward. ``true``
    compiles anyway (where a C++ compiler exists)."""
    if requested != "auto":  # a bool from the spec
        return Choice("compiled" if requested else "eager", "set in the spec")
    return Choice(
        "eager",
        f"auto: eager on {device.type} (compiled networks measured slower on the CPU for "
        "4 of 5 models and on an H100 for all; set train.compile = true to compile anyway)",
    )


def refuse_cuda_graphs(mode: str, device: torch.device) -> None:
    """``compile_mode = "reduce-overhead"`` replays CUDA graphs into fixed output memory,
    and every GAN step calls a network more than once (D on real and on fake images):
    the second call overwrites the first's output while the step still needs it. On an
    H100 (torch 2.11) it failed for every shipped model, also with each output cloned as
    it left the compiled forward; a clear refusal beats a crash mid-run."""
    if mode == "reduce-overhead" and device.type == "cuda":
        raise SpecError(
            "train.compile_mode = 'reduce-overhead' (CUDA graphs) does not work with this "
            "engine's steps: a network called twice in one step has its first output "
            "overwritten by the second replay. Use train.compile_mode = 'default' (or "
            "'max-autotune-no-cudagraphs')."
        )


def compile_networks(
    networks: nn.ModuleDict, mode: str, choice: Choice, keep_eager: dict[str, str]
) -> Choice:
    """Compile each network in place (``nn.Module.compile``): parameter names and
    state dicts are unchanged, so checkpoints move freely between eager and compiled
    runs. The plan switches ``requires_grad`` per phase; Dynamo guards on it, so each
    network compiles once per combination it meets (a handful), then never again.

    ``keep_eager`` names the networks that must stay eager, with the reason (see
    :func:`twice_differentiated`); the returned choice is ``choice`` with those named
    beside its reason ("eager" where no network is left to compile)."""
    for name, net in networks.items():
        if name not in keep_eager:
            net.compile(mode=None if mode == "default" else mode)
    if not keep_eager:
        return choice
    kept = "; ".join(f"{n} {why}" for n, why in keep_eager.items())
    value = "eager" if set(keep_eager) == set(networks) else "compiled"
    return Choice(value, f"{choice.reason}; {kept}")


def twice_differentiated(calls, grad_leaf_calls, networks) -> dict[str, str]:
    """Networks called on a value that descends from a ``grad_leaf`` op (e.g. a gradient
    penalty's interpolates): a loss differentiates them with ``create_graph=True`` and
    the step then back-propagates through that gradient. AOTAutograd, which compiled
    modules run through, has no double backward, so these networks run eager.

    ``calls`` is the graph's calls in order, ``grad_leaf_calls`` those of grad-leaf ops,
    ``networks`` the network names; returns ``{network: reason}``."""
    tainted: set[str] = set()
    eager: dict[str, str] = {}
    for call in calls:
        if call in grad_leaf_calls:
            tainted.update(call.outputs)
            continue
        if tainted.intersection(call.inputs):
            tainted.update(call.outputs)
            if call.func in networks and call.func not in eager:
                leaf = next(a for a in call.inputs if a in tainted)
                eager[call.func] = (
                    f"eager: differentiated twice through '{leaf}' (torch.compile's "
                    f"AOTAutograd has no double backward)"
                )
    return eager


def graphs_compiled() -> int:
    """How many graphs TorchDynamo has compiled in this process (first compiles and
    recompiles together): its counter, read before and after a stretch of steps."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])
