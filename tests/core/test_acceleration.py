"""train.precision = "auto" and train.compile: the choice, its reason, and a compiled
engine that trains like the eager one without recompiling in its steady state."""

from __future__ import annotations

import shutil

import pytest
import torch

from gan.core import acceleration
from gan.core.acceleration import (
    choose_compile,
    choose_precision,
    graphs_compiled,
    twice_differentiated,
)
from gan.core.errors import SpecError
from gan.testing import tiny_engine

CPU = torch.device("cpu")


def test_explicit_precision_is_kept():
    for p in ("fp32", "bf16", "fp16"):
        assert choose_precision(p, CPU).value == p


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_follows_the_cpus_bf16_support(monkeypatch, native, expected):
    monkeypatch.setattr(
        acceleration, "cpu_has_native_bf16", lambda: (native, "avx512_bf16" if native else "")
    )
    choice = choose_precision("auto", CPU)
    assert choice.value == expected
    assert choice.reason.startswith("auto")
    assert ("has avx512_bf16" in choice.reason) == native, choice.reason


def test_cpu_bf16_probe_agrees_with_cpuinfo():
    native, isa = acceleration.cpu_has_native_bf16()
    flags = acceleration._cpu_flags()
    if flags:  # Linux: the kernel's flags are the ground truth
        assert native == bool({"avx512_bf16", "amx_bf16"} & flags), (isa, sorted(flags)[:5])


def test_auto_engine_records_the_choice(monkeypatch):
    monkeypatch.setattr(acceleration, "cpu_has_native_bf16", lambda: (False, ""))
    engine = tiny_engine("cgan", "train.precision=auto")
    assert engine.precision.value == "fp32" and not engine._amp
    assert engine.compiled.value == "eager"


def test_auto_compile_is_eager_on_the_cpu_and_explicit_choices_stand():
    assert choose_compile(False, CPU).value == "eager"
    assert choose_compile(True, CPU).value == "compiled"
    choice = choose_compile("auto", CPU)
    assert choice.value == "eager" and "measured slower" in choice.reason
    # measured on an H100 (bench/results/speed_gpu.md): compiled 0.73-0.90x, or failing
    assert choose_compile("auto", torch.device("cuda")).value == "eager"


def test_auto_precision_is_fp32_on_a_gpu_where_bf16_was_measured_slower():
    choice = choose_precision("auto", torch.device("cuda"))
    assert choice.value == "fp32" and "0.82-0.94x" in choice.reason
    assert choose_precision("bf16", torch.device("cuda")).value == "bf16"


def test_cuda_graphs_are_refused_on_a_gpu_with_the_fix_named():
    acceleration.refuse_cuda_graphs("reduce-overhead", CPU)  # no CUDA graphs on the CPU
    acceleration.refuse_cuda_graphs("default", torch.device("cuda"))
    with pytest.raises(SpecError, match="compile_mode = 'default'"):
        acceleration.refuse_cuda_graphs("reduce-overhead", torch.device("cuda"))


def _losses(engine, steps: int) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in engine.step().losses.items()} for _ in range(steps)]


@pytest.mark.skipif(
    not (shutil.which("g++") or shutil.which("c++")) or not torch._dynamo.is_dynamo_supported(),
    reason="torch.compile's Inductor needs a C++ compiler and a supported Python",
)
def test_compiled_engine_trains_like_eager_and_stops_compiling(monkeypatch):
    """CGAN (an MLP G and D, two phases that switch requires_grad): the compiled engine
    follows the eager one step for step, its state dict is the eager one's (checkpoints
    move between them), and after the first steps nothing is compiled again. Inductor
    draws dropout masks from its own generator unless told to fall back to eager's."""
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config, "fallback_random", True)
    over = ["networks.G.hidden=[32, 32]", "networks.D.hidden=32"]
    eager = tiny_engine("cgan", *over, batch_size=8, limit=64)
    compiled = tiny_engine("cgan", *over, "train.compile=true", batch_size=8, limit=64)
    assert compiled.compiled.value == "compiled"
    assert set(compiled.state_dict()["networks"]["G"]) == set(eager.state_dict()["networks"]["G"])
    torch.manual_seed(1)  # dropout draws from the global generator: same start for both
    expected = _losses(eager, 6)
    torch.manual_seed(1)
    got = _losses(compiled, 3)
    before = graphs_compiled()
    got += _losses(compiled, 3)
    assert graphs_compiled() == before, "the steady state recompiled"
    for e, g in zip(expected, got, strict=True):
        assert e.keys() == g.keys()
        for k in e:
            assert g[k] == pytest.approx(e[k], rel=1e-3, abs=1e-4), k


def test_bench_shows_compile_time_and_recompiles():
    from gan.core.acceleration import Choice
    from gan.tools.bench import BenchResult, render

    compiled = Choice("compiled", "set in the spec")
    result = BenchResult(
        10, 2.0, {}, warmup_seconds=31.5, graphs_warmup=6, graphs_timed=0, compiled=compiled
    )
    text = render("cgan", result, CPU)
    assert "5.00 steps/s" in text and "warm-up    31.5 s (compiling 6 graphs)" in text
    assert "recompiles during the timed steps: 0" in text


def test_gradient_penalty_networks_stay_eager():
    """AOTAutograd has no double backward: ClusterGAN's critic, which the gradient penalty
    differentiates through the interpolates, is kept eager (and says why); its generator
    and encoder are compiled. Compiling happens lazily, so nothing is compiled here."""
    engine = tiny_engine("clustergan", "train.compile=true")
    assert set(engine.kept_eager) == {"D"}
    assert "x_hat" in engine.kept_eager["D"] and "double backward" in engine.kept_eager["D"]
    assert engine.compiled.value == "compiled" and "D eager" in engine.compiled.reason
    assert "G" not in engine.kept_eager and "E" not in engine.kept_eager
    assert twice_differentiated(engine.model.graph.order, frozenset(), {"D"}) == {}
