"""BiGAN: phase semantics and one engine step against a hand-written PyTorch step."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan.testing import assert_changed, assert_same_parameters, record_step, tiny_engine


def test_plan_matches_paper():
    engine = tiny_engine("bigan")
    plan = engine.plan()
    assert [ex.phase.name for ex in plan] == ["discriminator", "generator"]
    assert plan[0].phase.updates == {"D"}
    assert plan[1].phase.updates == {"G", "E"}
    # G(z) and E(x) are computed once per step and reused by the generator phase
    reused = {a.call.key for a in plan[1].actions if not a.compute}
    assert reused == {"x_fake", "z_enc, e_feat"}


def test_discriminator_phase_leaves_generator_and_encoder_untouched():
    engine = tiny_engine("bigan", "phases.generator.every=2")
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
    engine = tiny_engine("bigan", "phases.discriminator.every=2")
    engine.step_count = 1
    rec = record_step(engine)
    before, after = rec.initial["D"].state_dict(), engine.networks["D"].state_dict()
    for key in before:
        if "running" in key or "num_batches" in key:
            continue
        assert torch.equal(before[key], after[key]), f"D.{key} changed"
    assert_changed(rec.initial["G"], engine.networks["G"])
    assert_changed(rec.initial["E"], engine.networks["E"])


def test_one_step_equals_hand_written_pytorch():
    engine = tiny_engine("bigan")
    rec = record_step(engine)
    G, E, D = rec.initial["G"], rec.initial["E"], rec.initial["D"]
    x, z = rec.sources[0]["x"], rec.sources[0]["z"]
    adam = {"lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 2.5e-5}
    opt_d = torch.optim.Adam(D.parameters(), **adam)
    opt_ge = torch.optim.Adam([*G.parameters(), *E.parameters()], **adam)
    torch.set_rng_state(rec.rng_state)

    # discriminator: (x, E(x)) → real, (G(z), z) → fake; E and G outputs detached
    z_enc, _ = E(x)  # (z, penultimate features)
    x_fake = G(z)
    opt_d.zero_grad()
    d_real = D(x, z_enc.detach())
    d_fake = D(x_fake.detach(), z)
    d_loss = 0.5 * F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    d_loss = d_loss + 0.5 * F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    d_loss.backward()
    opt_d.step()

    # encoder + generator: labels swapped, through the updated D
    opt_ge.zero_grad()
    d_real = D(x, z_enc)
    d_fake = D(x_fake, z)
    g_loss = 0.5 * F.binary_cross_entropy_with_logits(d_real, torch.zeros_like(d_real))
    g_loss = g_loss + 0.5 * F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    g_loss.backward()
    opt_ge.step()

    assert_same_parameters(engine.networks, rec.initial)
    assert (
        abs(
            rec.losses["generator/eg_fake"]
            - F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake)).item()
        )
        < 1e-5
    )
