"""InfoGAN: spec resolution, the official code's two-phase plan (λ·L_I in both the D/Q
and the G objective), and one engine step against a hand-written PyTorch step."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_short_run_writes_checkpoint
from typer.testing import CliRunner

from gan.api import load_spec
from gan.cli import app
from gan.testing import assert_changed, assert_same_parameters, record_step, tiny_engine


def test_inspect_resolves() -> None:
    result = CliRunner().invoke(app, ["inspect", "specs/infogan.toml"])
    assert result.exit_code == 0, result.output
    assert "generator: updates G" in result.output


def test_plan_matches_official_code() -> None:
    engine = tiny_engine("infogan")
    plan = engine.plan()
    assert [ex.phase.name for ex in plan] == ["discriminator", "generator"]
    assert [ex.phase.updates for ex in plan] == [{"D"}, {"G"}]
    # the mutual-information term, λ = 1, in both objectives
    assert dict(plan[0].phase.terms) == {
        "d_real": 1.0,
        "d_fake": 1.0,
        "info_cat": 1.0,
        "info_cont": 1.0,
    }
    assert dict(plan[1].phase.terms) == {"g_adv": 1.0, "info_cat": 1.0, "info_cont": 1.0}
    # the generator's update draws a fresh z and c on the same batch (the official loop)
    assert [ex.fresh for ex in plan] == ["none", "latents"]
    assert {a.call.key for a in plan[1].actions if a.compute} >= {"x_fake"}
    assert [g["lr"] for g in engine.optimizers["discriminator"].param_groups] == [2e-4]
    assert [g["lr"] for g in engine.optimizers["generator"].param_groups] == [1e-3]


def test_official_data_split() -> None:
    """infogan/misc/datasets.py trains on read_data_sets' 55,000: the first 5,000
    training images are its validation split, and pixels are on [0, 1]."""
    data = load_spec("infogan").data
    assert (data.val_pick, round(data.val * 60_000), tuple(data.range)) == ("first", 5000, (0, 1))


def test_discriminator_returns_logits_and_codes() -> None:
    engine = tiny_engine("infogan")
    D = engine.networks["D"]
    d, cat, cont = D(torch.zeros(4, 1, 28, 28))
    assert d.shape == (4, 1) and cat.shape == (4, 10) and cont.shape == (4, 2)
    eps = {m.eps for m in D.modules() if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d)}
    assert eps == {1e-5}  # not the seed's eps = 0.8


def test_one_step_equals_hand_written_pytorch() -> None:
    engine = tiny_engine("infogan")
    rec = record_step(engine)
    G, D = rec.initial["G"], rec.initial["D"]
    src, fresh = rec.sources  # the step's draw; the generator's fresh latents
    assert torch.equal(fresh["x"], src["x"]) and not torch.equal(fresh["z"], src["z"])
    x, z, c_cat, c_cont = src["x"], src["z"], src["c_cat"], src["c_cont"]
    betas = (0.5, 0.999)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=betas)
    torch.set_rng_state(rec.rng_state)
    zc = torch.cat([z, F.one_hot(c_cat, 10).float(), c_cont], dim=1)

    def info(cat_logits, cont_pred, c_cat=c_cat, c_cont=c_cont) -> torch.Tensor:
        return F.cross_entropy(cat_logits, c_cat) + F.mse_loss(cont_pred, c_cont)

    # D and Q: real → 1, G(z, c) (detached) → 0, minus the information bound
    opt_d.zero_grad()
    d_real, _, _ = D(x)
    x_fake = G(zc)
    d_fake, cat_logits, cont_pred = D(x_fake.detach())
    d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    d_loss = d_loss + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    d_info = info(cat_logits, cont_pred)
    (d_loss + d_info).backward()
    opt_d.step()

    # G: non-saturating, through the updated D (and Q), on a fresh G(z', c'), minus the bound
    opt_g.zero_grad()
    c_cat, c_cont = fresh["c_cat"], fresh["c_cont"]
    zc = torch.cat([fresh["z"], F.one_hot(c_cat, 10).float(), c_cont], dim=1)
    d_fake, cat_logits, cont_pred = D(G(zc))
    g_loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    g_info = info(cat_logits, cont_pred, c_cat, c_cont)
    (g_loss + g_info).backward()
    opt_g.step()

    assert_same_parameters(engine.networks, rec.initial)
    fresh = tiny_engine("infogan").networks
    assert_changed(fresh["G"], engine.networks["G"])
    assert_changed(fresh["D"].q, engine.networks["D"].q)  # the Q head did learn
    expected = F.cross_entropy(cat_logits, c_cat).item()
    assert math.isclose(rec.losses["generator/info_cat"], expected, rel_tol=1e-5)


def test_short_run_writes_checkpoint(tmp_path: Path) -> None:
    assert_short_run_writes_checkpoint("infogan", tmp_path)


def test_lr_for_a_network_the_phase_does_not_update_is_refused() -> None:
    from gan.core.errors import SpecError
    from gan.core.resolve import resolve
    from gan.core.spec import load_spec

    with pytest.raises(SpecError, match=r"lr\.E.*not among the networks"):
        resolve(load_spec("infogan", ["phases.generator.lr.E=1e-3"]))


def test_a_phase_can_give_each_network_its_own_rate() -> None:
    """``phases[].lr``: one parameter group per updated network (the seed-style
    information phase over G and D with G at its own rate)."""
    engine = tiny_engine(
        "infogan", "phases.generator.updates=['G', 'D']", "phases.generator.lr.G=1e-3"
    )
    groups = engine.optimizers["generator"].param_groups
    assert [g["lr"] for g in groups] == [1e-3, 1e-3]
    engine = tiny_engine(
        "infogan", "phases.discriminator.updates=['G', 'D']", "phases.discriminator.lr.G=1e-3"
    )
    groups = engine.optimizers["discriminator"].param_groups
    assert [g["lr"] for g in groups] == [1e-3, 2e-4]
    assert sum(len(g["params"]) for g in groups) == len(
        [*engine.networks["G"].parameters(), *engine.networks["D"].parameters()]
    )
