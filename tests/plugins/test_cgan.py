"""Conditional GAN (Mirza & Osindero, 2014) with the seed's networks and least-squares
loss: phase semantics, one engine step against a hand-written PyTorch step, a short run."""

from __future__ import annotations

import copy
import json
import math

import torch
import torch.nn.functional as F
from helpers import quick_spec
from typer.testing import CliRunner

from gan.cli import app
from gan.testing import assert_changed, assert_same_parameters, record_step, tiny_engine
from gan.training.trainer import Trainer

ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}


def test_inspect_resolves():
    result = CliRunner().invoke(app, ["inspect", "specs/cgan.toml"])
    assert result.exit_code == 0, result.output


def test_plan_discriminator_then_generator():
    plan = tiny_engine("cgan").plan()
    assert [ex.phase.name for ex in plan] == ["discriminator", "generator"]
    assert plan[0].phase.updates == {"D"}
    assert plan[1].phase.updates == {"G"}
    # G(z, c) is computed once (with G's graph), detached for D and reused by G's phase
    first = next(a for a in plan[0].actions if a.call.key == "x_fake")
    assert first.compute and first.grad_nets == frozenset({"G"})
    assert {a.call.key for a in plan[1].actions if not a.compute} == {"x_fake"}


def test_generator_is_conditioned_on_labels():
    engine = tiny_engine("cgan")
    G = engine.networks["G"].eval()
    z = torch.randn(1, 100).repeat(2, 1)
    out = G(z, torch.tensor([0, 1]))
    assert not torch.equal(out[0], out[1])


def test_discriminator_phase_leaves_generator_untouched():
    engine = tiny_engine("cgan", "phases.generator.every=2")
    engine.step_count = 1
    rec = record_step(engine)
    before, after = rec.initial["G"].state_dict(), engine.networks["G"].state_dict()
    for key in before:
        if "running" in key or "num_batches" in key:
            continue  # BatchNorm statistics move in any forward pass in train mode
        assert torch.equal(before[key], after[key]), f"G.{key} changed"
    assert_changed(rec.initial["D"], engine.networks["D"])


def test_one_step_equals_hand_written_pytorch():
    engine = tiny_engine("cgan")
    rec = record_step(engine)
    start = copy.deepcopy(rec.initial)
    G, D = rec.initial["G"], rec.initial["D"]
    src = rec.sources[0]
    x, y, z, c = src["x"], src["y"], src["z"], src["c"]
    opt_d = torch.optim.Adam(D.parameters(), **ADAM)
    opt_g = torch.optim.Adam(G.parameters(), **ADAM)
    torch.set_rng_state(rec.rng_state)  # D's dropout masks, in the engine's call order

    # discriminator (least squares): real pairs (x, y) → 1, generated (G(z, c), c) → 0
    x_fake = G(z, c)
    opt_d.zero_grad()
    d_real = D(x, y)
    d_fake = D(x_fake.detach(), c)
    d_loss = 0.5 * F.mse_loss(d_real, torch.ones_like(d_real))
    d_loss = d_loss + 0.5 * F.mse_loss(d_fake, torch.zeros_like(d_fake))
    d_loss.backward()
    opt_d.step()

    # generator: the same G(z, c), judged by the updated D, pushed towards 1
    opt_g.zero_grad()
    d_fake = D(x_fake, c)
    g_loss = F.mse_loss(d_fake, torch.ones_like(d_fake))
    g_loss.backward()
    opt_g.step()

    assert_same_parameters(engine.networks, rec.initial)
    assert_changed(start["G"], engine.networks["G"])
    assert_changed(start["D"], engine.networks["D"])
    assert abs(rec.losses["generator/g_adv"] - g_loss.item()) < 1e-5


def test_short_run_writes_checkpoint(tmp_path):
    overrides = ["data.source=digits", "train.steps=3", "train.batch_size=16"]
    Trainer(quick_spec("cgan", overrides), tmp_path / "run", quiet=True).run()
    assert list((tmp_path / "run" / "checkpoints").glob("*.safetensors"))
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    losses = {k: v for line in lines for k, v in json.loads(line).items() if "/" in k}
    assert {"discriminator/d_real", "generator/g_adv"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values())
