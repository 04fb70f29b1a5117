"""BiGAN: the official recipe's values and phase plan, and one engine step against a
hand-written PyTorch step — simultaneous (the official update_both: D, G and E from one
forward and the same parameters) and, with ``simultaneous = false``, alternating."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gan.core.spec import load_spec
from gan.testing import assert_changed, assert_same_parameters, record_step, tiny_engine

ALTERNATING = "phases.generator.simultaneous=false"
ADAM = {"lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 2.5e-5}


def test_official_spec_values():
    """jeffdonahue/bigan train_mnist.sh / train_gan.py / net.py, as cited in the spec."""
    spec = load_spec("bigan")
    assert tuple(spec.data.range) == (0.0, 1.0)
    assert spec.networks["G"].output == "sigmoid"
    for name in ("G", "E", "D"):
        net = spec.networks[name]
        assert net.batchnorm_affine is False  # --nogain --nobias
        assert net.batchnorm_eps == 1e-8 and net.batchnorm_momentum == "none"  # TOML for None
    generator = next(p for p in spec.phases if p.name == "generator")
    assert generator.simultaneous  # update_both (k = 1, no --no_update_both)
    assert (spec.eval.batchnorm, spec.eval.batchnorm_batches) == ("reestimate", 1000)
    assert spec.train.batch_size == 128 and spec.train.epochs == 400


def test_official_networks_have_no_batchnorm_gain_or_bias():
    engine = tiny_engine("bigan")
    for name in ("G", "E", "D"):
        norms = [
            m
            for m in engine.networks[name].modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        ]
        assert norms, name
        assert all(m.weight is None and m.bias is None and m.momentum is None for m in norms)
    with torch.no_grad():
        x = engine.networks["G"].eval()(torch.rand(4, 50) * 2 - 1)
    assert float(x.min()) >= 0 and float(x.max()) <= 1  # sigmoid, pixels on [0, 1]


def test_official_networks_are_net_py_written_by_hand():
    """net.py's MNIST networks, by hand: FC layers without bias, BatchNorm without gain
    or bias (eps 1e-8, batch statistics), the latent added before the second layer's
    BatchNorm (apply_cond) in G and D, E's output 2σ − 1 (dist.py UniformDistribution)."""
    engine = tiny_engine("bigan", "networks.G.hidden=32", "networks.E.hidden=32")
    G, E, D = (engine.networks[n].train() for n in ("G", "E", "D"))
    for net in (G, E, D):
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        assert linears and all(m.bias is None for m in linears)
    assert float(D.joint[-1].weight.detach().abs().sum()) == 0  # LinearPredictor(stddev 0)
    weights = [m.weight for m in G.modules() if isinstance(m, torch.nn.Linear)]
    spread = float(torch.cat([w.detach().flatten() for w in weights]).std())
    assert 0.015 < spread < 0.025  # N(0, 0.02)
    with torch.no_grad():
        D.joint[-1].weight.normal_()  # a logit that is not zero, to compare something

    def bn(h):
        return F.batch_norm(h, None, None, training=True, eps=1e-8)

    def lrelu(h):
        return F.leaky_relu(h, 0.2)

    torch.manual_seed(0)
    z = torch.rand(16, 50) * 2 - 1
    x = torch.rand(16, 1, 28, 28)
    f = x.flatten(1)
    h = F.relu(bn(z @ G.net[0].weight.T))
    h = F.relu(bn(h @ G.net[3].weight.T + z @ G.skip.weight.T))
    by_hand_g = torch.sigmoid(h @ G.net[6].weight.T).view(16, 1, 28, 28)
    by_hand_feat = lrelu(bn(lrelu(f @ E.body[1].weight.T) @ E.body[3].weight.T))
    by_hand_e = 2 * torch.sigmoid(by_hand_feat @ E.out.weight.T) - 1
    h = lrelu(f @ D.x_path[1].weight.T)
    h = lrelu(bn(h @ D.x_second.weight.T + z @ D.z_path.weight.T))
    by_hand_d = h @ D.joint[-1].weight.T
    with torch.no_grad():
        assert torch.allclose(G(z), by_hand_g, atol=1e-5)
        z_enc, feat, logits = E(x)
        assert torch.allclose(logits, by_hand_feat @ E.out.weight.T, atol=1e-5)  # NNC_e's
        assert torch.allclose(z_enc, by_hand_e, atol=1e-5) and z_enc.abs().max() < 1
        assert torch.allclose(feat, by_hand_feat, atol=1e-5)
        assert torch.allclose(D(x, z), by_hand_d, atol=1e-4)


def test_plan_matches_the_official_update():
    plan = tiny_engine("bigan").plan()
    assert [ex.phase.name for ex in plan] == ["discriminator", "generator"]
    assert plan[0].phase.updates == {"D"}
    assert plan[1].phase.updates == {"G", "E"}
    # one forward per step: the generator phase computes nothing of its own
    assert [a.call.key for a in plan[1].actions if a.compute] == []


def test_discriminator_phase_leaves_generator_and_encoder_untouched():
    engine = tiny_engine("bigan", ALTERNATING, "phases.generator.every=2")
    engine.step_count = 1  # generator phase inactive on odd steps
    assert [ex.phase.name for ex in engine.plan()] == ["discriminator"]
    rec = record_step(engine)
    for name in ("G", "E"):
        before = rec.initial[name].state_dict()
        after = engine.networks[name].state_dict()
        for key in before:
            if "running" in key or "num_batches" in key:
                continue  # BatchNorm statistics move in any forward pass in train mode
            assert torch.equal(before[key], after[key]), f"{name}.{key} changed"
    assert_changed(rec.initial["D"], engine.networks["D"])


def test_generator_phase_leaves_discriminator_untouched():
    engine = tiny_engine("bigan", ALTERNATING, "phases.discriminator.every=2")
    engine.step_count = 1
    rec = record_step(engine)
    before, after = rec.initial["D"].state_dict(), engine.networks["D"].state_dict()
    for key in before:
        if "running" in key or "num_batches" in key:
            continue
        assert torch.equal(before[key], after[key]), f"D.{key} changed"
    assert_changed(rec.initial["G"], engine.networks["G"])
    assert_changed(rec.initial["E"], engine.networks["E"])


def _losses(D, x, z, z_enc, x_fake):
    d_real, d_fake = D(x, z_enc), D(x_fake, z)
    ones, zeros = torch.ones_like(d_real), torch.zeros_like(d_real)
    d_loss = 0.5 * F.binary_cross_entropy_with_logits(d_real, ones)
    d_loss = d_loss + 0.5 * F.binary_cross_entropy_with_logits(d_fake, zeros)
    g_loss = 0.5 * F.binary_cross_entropy_with_logits(d_real, zeros)
    g_loss = g_loss + 0.5 * F.binary_cross_entropy_with_logits(d_fake, ones)
    return d_loss, g_loss


def test_official_one_step_equals_hand_written_simultaneous_step():
    """train_gan.py's _train_gd: D's and G+E's gradients from one forward pass at the same
    parameters, then every update (lib/updates.py Adam with coupled L2 2.5e-5)."""
    engine = tiny_engine("bigan")
    rec = record_step(engine)
    G, E, D = rec.initial["G"], rec.initial["E"], rec.initial["D"]
    x, z = rec.sources[0]["x"], rec.sources[0]["z"]
    assert len(rec.sources) == 1  # one draw of batch and latents per iteration
    opt_d = torch.optim.Adam(D.parameters(), **ADAM)
    opt_ge = torch.optim.Adam([*G.parameters(), *E.parameters()], **ADAM)
    torch.set_rng_state(rec.rng_state)

    z_enc, _, _ = E(x)  # (z, penultimate features, logits)
    x_fake = G(z)
    d_loss, g_loss = _losses(D, x, z, z_enc, x_fake)
    d_params, ge_params = list(D.parameters()), [*G.parameters(), *E.parameters()]
    d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
    ge_grads = torch.autograd.grad(g_loss, ge_params)
    for p, g in [*zip(d_params, d_grads, strict=True), *zip(ge_params, ge_grads, strict=True)]:
        p.grad = g
    opt_d.step()
    opt_ge.step()

    assert_same_parameters(engine.networks, rec.initial)
    assert abs(rec.losses["generator/eg_real"] * 0.5 + rec.losses["generator/eg_fake"] * 0.5
               - g_loss.item()) < 1e-5  # fmt: skip
    for name in ("G", "E", "D"):
        assert_changed(engine.networks[name], tiny_engine("bigan").networks[name])


def test_alternating_step_differs_from_the_official_one():
    """With simultaneous = false, G and E see the updated D: not the official update."""
    ours = tiny_engine("bigan")
    alternating = tiny_engine("bigan", ALTERNATING)
    ours.step()
    alternating.step()
    g, g_alt = ours.networks["G"].state_dict(), alternating.networks["G"].state_dict()
    assert any(not torch.equal(g[k], g_alt[k]) for k in g if "running" not in k)
    d_alt = dict(alternating.networks["D"].named_parameters())
    for key, value in ours.networks["D"].named_parameters():  # D's own update: the same
        torch.testing.assert_close(value, d_alt[key])


def test_alternating_one_step_equals_hand_written_pytorch():
    engine = tiny_engine("bigan", ALTERNATING)
    rec = record_step(engine)
    G, E, D = rec.initial["G"], rec.initial["E"], rec.initial["D"]
    x, z = rec.sources[0]["x"], rec.sources[0]["z"]
    opt_d = torch.optim.Adam(D.parameters(), **ADAM)
    opt_ge = torch.optim.Adam([*G.parameters(), *E.parameters()], **ADAM)
    torch.set_rng_state(rec.rng_state)

    # discriminator: (x, E(x)) → real, (G(z), z) → fake; E and G outputs detached
    z_enc, _, _ = E(x)
    x_fake = G(z)
    opt_d.zero_grad()
    d_loss, _ = _losses(D, x, z, z_enc.detach(), x_fake.detach())
    d_loss.backward()
    opt_d.step()

    # encoder + generator: labels swapped, through the updated D
    opt_ge.zero_grad()
    _, g_loss = _losses(D, x, z, z_enc, x_fake)
    g_loss.backward()
    opt_ge.step()

    assert_same_parameters(engine.networks, rec.initial)


@pytest.mark.parametrize("override", ["phases.generator.every=2", "phases.generator.repeat=2"])
def test_simultaneous_phases_refuse_different_schedules(override):
    from gan.core.errors import SpecError

    with pytest.raises(SpecError, match=r"simultaneous|repeat|every"):
        tiny_engine("bigan", override)
