"""`gan bench` and the engine's opt-in step timer (gan.tools.bench): the sections are
reported and add up; timing is off by default. No timing assertions."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from gan.cli import app
from gan.testing import tiny_engine
from gan.tools.bench import SECTIONS, StepTimer, time_steps

SMALL = ["data.source=digits", "data.limit=64", "train.batch_size=8", "train.device=cpu"]


def test_timer_is_off_by_default():
    assert tiny_engine("cgan").timer is None


@pytest.mark.parametrize("name", ["cgan", "clustergan"])
def test_sections_cover_the_step(name):
    engine = tiny_engine(name, batch_size=8, limit=64)
    result = time_steps(engine, steps=3, warmup=1)
    assert engine.timer is None  # removed again afterwards
    assert set(result.sections) == set(SECTIONS)
    assert all(v > 0 for v in result.sections.values()), result.sections
    assert sum(result.sections.values()) <= result.seconds
    assert result.other < 0.5 * result.seconds  # the sections are where the time goes
    ms = result.as_dict()["ms_per_step"]
    assert sum(ms.values()) == pytest.approx(1000 * result.seconds / 3, rel=1e-6)


def test_timer_attributes_time_to_the_named_section():
    timer = StepTimer()
    timer.start()
    timer.lap("data")
    torch.randn(200, 200) @ torch.randn(200, 200)
    timer.lap("forward")
    assert timer.totals["forward"] > 0 and timer.totals["backward"] == 0


def test_bench_command_prints_sections():
    result = CliRunner().invoke(
        app,
        ["bench", "cgan", "--steps", "2", "--warmup", "1"]
        + [a for s in SMALL for a in ("--set", s)],
    )
    assert result.exit_code == 0, result.output
    assert "steps/s" in result.output
    for section in (*SECTIONS, "other"):
        assert section in result.output
    assert "precision  fp32 (set in the spec)" in result.output
    assert "compile    eager (set in the spec)" in result.output


def test_bench_command_json():
    args = ["bench", "aae", "--steps", "2", "--warmup", "0", "--json"]
    result = CliRunner().invoke(app, args + [a for s in SMALL for a in ("--set", s)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["spec"] == "aae" and data["steps"] == 2 and data["steps_per_s"] > 0
    assert set(data["ms_per_step"]) == {*SECTIONS, "other"}
    assert data["compile"]["value"] == "eager" and data["graphs_compiled"]["timed"] == 0
    assert data["precision"] == {"value": "fp32", "reason": "set in the spec"}


def test_bench_command_reports_spec_errors():
    result = CliRunner().invoke(app, ["bench", "cgan", "--set", "train.batch_size=0"])
    assert result.exit_code == 2
    assert "batch_size" in result.output


def test_adam_uses_the_fused_kernel_by_default():
    engine = tiny_engine("cgan", reference=False)
    assert all(o.defaults["fused"] for o in engine.optimizers.values())
    pinned = tiny_engine("cgan")  # the fidelity tests' reference kernels
    assert not any(o.defaults["fused"] for o in pinned.optimizers.values())


def test_fused_step_matches_the_reference_kernel_to_rounding():
    fused, ref = tiny_engine("cgan", reference=False), tiny_engine("cgan")
    rng = torch.get_rng_state()  # the same dropout masks in both steps
    fused.step()
    torch.set_rng_state(rng)
    ref.step()
    for (name, a), (_, b) in zip(
        fused.networks.state_dict().items(), ref.networks.state_dict().items(), strict=True
    ):
        # atol = lr / 4: Adam's first update is lr·g/(|g| + eps), ill-conditioned where g
        # is rounding noise (a bias feeding a BatchNorm gets a zero-mean gradient)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=5e-5, msg=name)
