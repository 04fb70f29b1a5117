"""ClusterGAN: spec resolution, the paper's phase plan, and one engine step against a
hand-written PyTorch step (WGAN-GP with 5 critic steps, G and E under one optimizer)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import assert_short_run_writes_checkpoint
from typer.testing import CliRunner

from gan.cli import app
from gan.testing import assert_changed, assert_same_parameters, record_step, tiny_engine

SPECS = ["clustergan", "clustergan_mlp", "clustergan_vanilla"]
ADAM = {"lr": 1e-4, "betas": (0.5, 0.9)}
N_CRITIC = 5


@pytest.mark.parametrize("name", SPECS)
def test_inspect_resolves(name: str) -> None:
    result = CliRunner().invoke(app, ["inspect", f"specs/{name}.toml"])
    assert result.exit_code == 0, result.output
    assert "generator: updates G, E" in result.output


@pytest.mark.parametrize("name", ["clustergan", "clustergan_mlp"])
def test_plan_matches_paper(name: str) -> None:
    plan = tiny_engine(name).plan()
    names = [ex.phase.name for ex in plan]
    assert names == ["critic"] * N_CRITIC + ["generator"]
    assert all(ex.phase.updates == {"D"} for ex in plan[:N_CRITIC])
    # a fresh batch and fresh latents for every critic step but the first
    assert [ex.resample for ex in plan] == [False] + [True] * (N_CRITIC - 1) + [False]
    gen = plan[-1].phase
    assert gen.updates == {"G", "E"}
    assert dict(gen.terms) == {"g_adv": 1.0, "zn_rec": 10.0, "zc_rec": 10.0}
    assert dict(plan[0].phase.terms) == {"d_real": 1.0, "d_fake": 1.0, "gp": 10.0}
    # G(z) of the last critic step is reused by the generator phase, D(G(z)) is not
    reused = {a.call.key for a in plan[-1].actions if not a.compute}
    assert "x_fake" in reused and "d_fake" not in reused


def test_generator_phase_leaves_critic_untouched() -> None:
    engine = tiny_engine("clustergan", "phases.critic.every=2", batch_size=8)
    engine.step_count = 1
    rec = record_step(engine)
    assert_same_parameters(engine.networks["D"], rec.initial["D"], rtol=0, atol=0)
    assert_changed(rec.initial["G"], engine.networks["G"])
    assert_changed(rec.initial["E"], engine.networks["E"])


def _replay_draws(state: torch.Tensor, n: int):
    """The sampler stream of one step: (z_n, z_c, ε) per critic step, in engine order."""
    gen = torch.Generator().set_state(state)
    for _ in range(N_CRITIC):
        zn = torch.randn(n, 30, generator=gen) * 0.10
        zc_idx = torch.randint(0, 10, (n,), generator=gen)
        eps = torch.rand(n, generator=gen).view(-1, 1, 1, 1)
        yield zn, zc_idx, eps


def test_one_step_equals_hand_written_pytorch() -> None:
    engine = tiny_engine("clustergan", batch_size=8)
    sampler_state = engine.sampler_generator.get_state()
    rec = record_step(engine)
    G, D, E = rec.initial["G"], rec.initial["D"], rec.initial["E"]
    opt_d = torch.optim.Adam(D.parameters(), **ADAM)
    opt_ge = torch.optim.Adam([*G.parameters(), *E.parameters()], **ADAM)
    torch.set_rng_state(rec.rng_state)
    assert len(rec.sources) == N_CRITIC  # one draw per critic step; G reuses the last

    # critic: 5 steps, each on a new batch, minimising -D(x) + D(G(z)) + 10·GP
    for k, (zn, zc_idx, eps) in enumerate(_replay_draws(sampler_state, 8)):
        src = rec.sources[k]
        torch.testing.assert_close(zn, src["zn"])  # the replayed stream is the engine's
        assert torch.equal(zc_idx, src["zc_idx"])
        x = src["x"]
        z = torch.cat([zn, F.one_hot(zc_idx, 10).float()], dim=1)
        opt_d.zero_grad()
        d_real = D(x)
        x_fake = G(z)
        d_fake = D(x_fake.detach())
        x_hat = (eps * x + (1 - eps) * x_fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
        gp = ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        d_loss = -d_real.mean() + d_fake.mean() + 10 * gp
        d_loss.backward()
        opt_d.step()

    # generator + encoder, one optimizer, on the last critic step's latents and G(z)
    opt_ge.zero_grad()
    d_fake = D(x_fake)
    zn_hat, zc_logits = E(x_fake)
    g_adv = -d_fake.mean()
    g_loss = g_adv + 10 * F.mse_loss(zn_hat, zn) + 10 * F.cross_entropy(zc_logits, zc_idx)
    g_loss.backward()
    opt_ge.step()

    assert_same_parameters(engine.networks, rec.initial)
    for name in ("G", "D", "E"):
        assert_changed(engine.networks[name], tiny_engine("clustergan").networks[name])
    assert math.isclose(rec.losses["generator/g_adv"], g_adv.item(), rel_tol=1e-4, abs_tol=1e-6)


@pytest.mark.parametrize("name", ["clustergan", "clustergan_mlp"])
def test_short_run_writes_checkpoint(name: str, tmp_path: Path) -> None:
    assert_short_run_writes_checkpoint(name, tmp_path)


def test_fast_recipe_runs_20_steps_on_digits_selecting_on_validation(tmp_path: Path) -> None:
    """specs/clustergan_fast.toml (issue #16's CPU recipe): 20 steps on digits, with
    its validation evaluation, best-checkpoint selection and no test-split read."""
    out = tmp_path / "fast"
    args = ["run", "specs/clustergan_fast.toml", "--out", str(out), "-q"]
    sets = ("data.source=digits", "train.steps=20", "eval.every=20", "eval.limit=200")
    for s in (*sets, "train.batch_size=16", "train.sample_every=20"):
        args += ["--set", s]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    evals = [
        json.loads(line)
        for line in (out / "metrics.jsonl").read_text().splitlines()
        if '"split"' in line
    ]
    assert [e["split"] for e in evals] == ["val"]
    assert all(0.0 <= e["eval/kmeans/purity"] <= 1.0 for e in evals)
    assert (out / "checkpoints" / "best.safetensors").is_file()
