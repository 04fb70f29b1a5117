"""InfoGAN: spec resolution, the three-phase plan of the seed, and one engine step
against a hand-written PyTorch step (D, G, then the information phase over G and D)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_short_run_writes_checkpoint
from typer.testing import CliRunner

from gan.cli import app
from gan.testing import assert_changed, assert_same_parameters, record_step, tiny_engine


def test_inspect_resolves() -> None:
    result = CliRunner().invoke(app, ["inspect", "specs/infogan.toml"])
    assert result.exit_code == 0, result.output
    assert "information: updates G, D" in result.output


def test_plan_matches_paper() -> None:
    engine = tiny_engine("infogan")
    plan = engine.plan()
    assert [ex.phase.name for ex in plan] == ["discriminator", "generator", "information"]
    assert [ex.phase.updates for ex in plan] == [{"D"}, {"G"}, {"G", "D"}]
    assert dict(plan[2].phase.terms) == {"info_cat": 1.0, "info_cont": 0.1}
    # G(z, c) is reused by the generator phase but recomputed after G has been stepped
    assert {a.call.key for a in plan[1].actions if not a.compute} >= {"x_fake"}
    assert "x_fake" in {a.call.key for a in plan[2].actions if a.compute}
    # one optimizer over G and D for the information phase (Q lives in D)
    info_params = {
        id(p) for g in engine.optimizers["information"].param_groups for p in g["params"]
    }
    assert info_params == {id(p) for p in engine.networks.parameters()}


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
    src = rec.sources[0]
    x, z, c_cat, c_cont = src["x"], src["z"], src["c_cat"], src["c_cont"]
    betas = (0.5, 0.999)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=betas)
    # the paper's rates in the information phase too: G at 1e-3, D (and its Q head) at 2e-4
    groups = [{"params": G.parameters(), "lr": 1e-3}, {"params": D.parameters()}]
    opt_info = torch.optim.Adam(groups, lr=2e-4, betas=betas)
    torch.set_rng_state(rec.rng_state)
    zc = torch.cat([z, F.one_hot(c_cat, 10).float(), c_cont], dim=1)

    # discriminator: real → 1, G(z, c) (detached) → 0
    opt_d.zero_grad()
    d_real, _, _ = D(x)
    x_fake = G(zc)
    d_fake, _, _ = D(x_fake.detach())
    d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    d_loss = d_loss + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    d_loss.backward()
    opt_d.step()

    # generator: non-saturating, through the updated D, same G(z, c)
    opt_g.zero_grad()
    d_fake, _, _ = D(x_fake)
    g_loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    g_loss.backward()
    opt_g.step()

    # information: G(z, c) again (G has changed), CE on logits + 0.1·MSE, G and D together
    opt_info.zero_grad()
    _, cat_logits, cont_pred = D(G(zc))
    info_cat = F.cross_entropy(cat_logits, c_cat)
    info_loss = info_cat + 0.1 * F.mse_loss(cont_pred, c_cont)
    info_loss.backward()
    opt_info.step()

    assert_same_parameters(engine.networks, rec.initial)
    fresh = tiny_engine("infogan").networks
    assert_changed(fresh["G"], engine.networks["G"])
    assert_changed(fresh["D"].q, engine.networks["D"].q)  # the Q head did learn
    assert math.isclose(rec.losses["information/info_cat"], info_cat.item(), rel_tol=1e-5)


def test_short_run_writes_checkpoint(tmp_path: Path) -> None:
    assert_short_run_writes_checkpoint("infogan", tmp_path)


def test_information_phase_has_a_rate_per_network() -> None:
    engine = tiny_engine("infogan")
    groups = engine.optimizers["information"].param_groups
    assert [g["lr"] for g in groups] == [1e-3, 2e-4]
    assert sum(len(g["params"]) for g in groups) == len(
        [*engine.networks["G"].parameters(), *engine.networks["D"].parameters()]
    )


def test_lr_for_a_network_the_phase_does_not_update_is_refused() -> None:
    from gan.core.errors import SpecError
    from gan.core.resolve import resolve
    from gan.core.spec import load_spec

    with pytest.raises(SpecError, match=r"lr\.E.*not among the networks"):
        resolve(load_spec("infogan", ["phases.information.lr.E=1e-3"]))
