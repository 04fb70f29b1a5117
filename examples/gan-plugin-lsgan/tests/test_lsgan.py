"""The LSGAN plugin: found through its entry point, validated at spec load, and one engine
step equal to a hand-written PyTorch step (the fidelity test every gan model has).

Run with the package installed: ``pip install -e ".[test]" && pytest``.
"""

from __future__ import annotations

import pytest
import torch
from gan.api import Loss, SpecError, default_registry
from gan.testing import assert_changed, assert_same_parameters, record_step, tiny_engine

from gan_lsgan import spec_path

SPEC = spec_path()
PAPER_CODINGS = {"eq9_zero_one": (0.0, 1.0, 1.0), "eq8_pearson": (-1.0, 1.0, 0.0)}


def coding(a: float, b: float, c: float) -> list[str]:
    """--set overrides giving every least-squares term the labels a, b, c."""
    return [
        f"losses.{t}.{k}={v}"
        for t in ("d_real", "d_fake", "g_fake")
        for k, v in zip("abc", (a, b, c), strict=True)
    ]


def test_found_through_the_entry_point():
    reg = default_registry()
    assert "gan_lsgan.plugin" not in reg.failures
    assert reg.origins["gan_lsgan.plugin"].startswith("entry point 'lsgan'")
    names = {
        e.component.name
        for kind in reg.entries
        for e in reg.entries[kind].values()
        if e.plugin == "gan_lsgan.plugin"
    }
    assert names == {
        "lsgan.generator",
        "lsgan.discriminator",
        "lsgan.truncated_normal",
        "lsgan.least_squares",
    }


def test_plan_reuses_the_generated_batch():
    plan = tiny_engine(SPEC).plan()
    assert [ex.phase.name for ex in plan] == ["discriminator", "generator"]
    assert plan[0].phase.updates == {"D"} and plan[1].phase.updates == {"G"}
    # G(z) is computed once (with G's graph) and reused; D(G(z)) is recomputed after D steps
    reused = {a.call.key for a in plan[1].actions if not a.compute}
    assert reused == {"x_fake"}


def test_networks_fit_the_images():
    engine = tiny_engine(SPEC)
    z = torch.rand(5, 64) * 2 - 1
    x = engine.networks["G"](z)
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert engine.networks["D"](x).shape == (5, 1)


@pytest.mark.parametrize("abc", PAPER_CODINGS.values(), ids=PAPER_CODINGS.keys())
def test_one_step_equals_hand_written_pytorch(abc):
    a, b, c = abc
    engine = tiny_engine(SPEC, *coding(a, b, c))
    rec = record_step(engine)
    G, D = rec.initial["G"], rec.initial["D"]
    x, z = rec.sources[0]["x"], rec.sources[0]["z"]
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    torch.set_rng_state(rec.rng_state)

    # discriminator: 1/2 (D(x) - b)² + 1/2 (D(G(z)) - a)², the fake batch detached
    x_fake = G(z)
    opt_d.zero_grad()
    d_loss = 0.5 * ((D(x) - b) ** 2).mean() + 0.5 * ((D(x_fake.detach()) - a) ** 2).mean()
    d_loss.backward()
    opt_d.step()

    # generator: 1/2 (D(G(z)) - c)², through the updated D
    opt_g.zero_grad()
    d_fake = D(x_fake)
    g_loss = 0.5 * ((d_fake - c) ** 2).mean()
    g_loss.backward()
    opt_g.step()

    assert_same_parameters(engine.networks, rec.initial)
    assert_changed(G, tiny_engine(SPEC).networks["G"])
    assert rec.losses["generator/g_fake"] == pytest.approx(((d_fake - c) ** 2).mean().item())


def test_least_squares_matches_builtin_mse():
    from gan_lsgan.plugin import least_squares

    mse = default_registry().get(Loss, "mse", "the test").factory

    s = torch.randn(8, 1)
    assert torch.allclose(least_squares(s, None, "c", c=1.0), mse(s, 1.0))
    assert torch.allclose(least_squares(s, None, "a", a=-1.0), mse(s, -1.0))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("losses.d_real.target=1.0", "losses.d_real.target"),
        ('losses.d_real.label="d"', "losses.d_real.label"),
        ("losses.d_real.lable=1", "Did you mean 'label'"),
        ("networks.D.chanels=8", "Did you mean 'channels'"),
        ("data.image_size=30", "multiples of 4"),
    ],
)
def test_mistakes_are_spec_errors(override, message):
    with pytest.raises(SpecError, match=message):
        tiny_engine(SPEC, override)


def test_truncated_normal_sampler():
    engine = tiny_engine(
        SPEC, 'samplers.z.type="lsgan.truncated_normal"', "samplers.z.threshold=0.5"
    )
    rec = record_step(engine)
    z = rec.sources[0]["z"]
    assert z.shape == (16, 64) and z.abs().max() <= 0.5
    assert_changed(rec.initial["G"], engine.networks["G"])
