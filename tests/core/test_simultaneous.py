"""``simultaneous = true``: two phases step from one forward pass, every gradient taken
from the same parameters before either optimizer steps (BiGAN's official update)."""

from __future__ import annotations

import copy
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_gan

from gan.core.build import build_engine
from gan.core.errors import SpecError
from gan.core.spec import spec_from_dict
from gan.training import state

LR = 0.5


def _spec(simultaneous: bool = True, **generator) -> dict:
    spec = tiny_gan("sim", d={"activation": "tanh"}, phases=("discriminator", "generator"), lr=LR)
    spec["phases"][1] |= {"simultaneous": simultaneous, **generator}
    return spec | {"train": {"batch_size": 8, "device": "cpu"}}


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def _engine(simultaneous: bool = True, **generator):
    return build_engine(spec_from_dict(_spec(simultaneous, **generator)), torch.device("cpu"))


def test_one_step_equals_a_hand_written_simultaneous_step(float64):
    engine = _engine()
    plan = engine.plan()
    assert [ex.simultaneous for ex in plan] == [False, True]
    assert all(not a.compute for a in plan[1].actions)  # one forward for both phases
    G, D = (copy.deepcopy(engine.networks[n]) for n in ("G", "D"))
    batch = {"x": engine.data.next()["x"].double(), "y": torch.zeros(8, dtype=torch.long)}
    seed_state = engine.sampler_generator.get_state()
    engine.step(batch)

    z = torch.randn(8, 3, generator=torch.Generator().set_state(seed_state))
    fake = G(z)
    d_real, d_fake = D(batch["x"]), D(fake)
    d_loss = F.binary_cross_entropy_with_logits(
        d_real, torch.ones_like(d_real)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    g_loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    d_grads = torch.autograd.grad(d_loss, list(D.parameters()), retain_graph=True)
    g_grads = torch.autograd.grad(g_loss, list(G.parameters()))  # D not yet stepped
    with torch.no_grad():
        for p, g in [
            *zip(D.parameters(), d_grads, strict=True),
            *zip(G.parameters(), g_grads, strict=True),
        ]:
            p -= LR * g
    for name, ref in (("G", G), ("D", D)):
        for a, b in zip(engine.networks[name].parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

    alternating = _engine(simultaneous=False)
    alternating.step(batch)
    g_alt = torch.cat([p.flatten() for p in alternating.networks["G"].parameters()])
    g_sim = torch.cat([p.flatten() for p in engine.networks["G"].parameters()])
    torch.testing.assert_close(  # D is the same: the phases differ only for G
        list(alternating.networks["D"].parameters()), list(engine.networks["D"].parameters())
    )
    assert (g_alt - g_sim).abs().max() > 1e-6


def test_each_network_is_computed_once_per_step():
    engine = _engine()
    counts: Counter = Counter()
    for name, net in engine.networks.items():
        net.register_forward_hook(lambda m, a, o, name=name: counts.update([name]))
    engine.step()
    assert counts == Counter({"G": 1, "D": 2})  # alternating: D four times


def test_resume_mid_run_matches_an_uninterrupted_run():
    straight = _engine()
    for _ in range(4):
        straight.step()
    first = _engine()
    for _ in range(2):
        first.step()
    tensors, meta = state.state_tensors(first)
    second = _engine()
    state.load_state_tensors(second, tensors, meta)
    for _ in range(2):
        second.step()
    for a, b in zip(straight.networks.parameters(), second.networks.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repeat": 2}, "repeat = 1"),
        ({"every": 2}, "same every and start"),
        ({"updates": ["D", "G"]}, "updates"),
        ({"fresh_batch": True}, "fresh draws"),
        ({"fresh": "latents"}, "fresh draws"),
    ],
)
def test_impossible_simultaneous_phases_are_refused(change, message):
    with pytest.raises(SpecError, match=message):
        spec_from_dict(_spec(**change))
    data = _spec()
    data["phases"][0]["simultaneous"] = True
    with pytest.raises(SpecError, match="first phase"):
        spec_from_dict(data)
