"""``fresh = "none" | "latents" | "batch"``: what a phase redraws before it runs. A
latents-only redraw keeps the data batch and the nodes computed from it alone."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from gan.core.build import build_engine
from gan.core.errors import SpecError
from gan.core.spec import spec_from_dict
from gan.testing import record_step

LR = 0.5


def _spec(fresh: str | None = None, **extra) -> dict:
    generator = {"fresh": fresh} if fresh is not None else {}
    bce = "bce_logits"
    return {
        "name": "fresh",
        "data": {"source": "digits", "limit": 64},
        "samplers": {"z": {"type": "normal", "dim": 3}},
        "networks": {  # a BiGAN: D(x, E(x)) against D(G(z), z)
            "E": {"type": "mlp", "in_features": 64, "hidden": [5], "out_features": 3},
            "G": {"type": "mlp", "in_features": 3, "hidden": [5], "out_features": "image"},
            "D": {"type": "mlp", "in_features": 67, "hidden": [5], "activation": "tanh"},
        },
        "graph": {
            "z_enc": "E(x)",
            "x_fake": "G(z)",
            "d_real": "D(x, z_enc)",
            "d_fake": "D(x_fake, z)",
        },
        "losses": {
            "d_real": {"type": bce, "input": "d_real", "target": 1},
            "d_fake": {"type": bce, "input": "d_fake", "target": 0},
            "g_real": {"type": bce, "input": "d_real", "target": 0},
            "g_fake": {"type": bce, "input": "d_fake", "target": 1},
        },
        "phases": [
            {
                "name": "d",
                "updates": ["D"],
                "optimizer": {"type": "sgd", "lr": LR},
                "losses": {"d_real": 1.0, "d_fake": 1.0},
            },
            {
                "name": "ge",
                "updates": ["G", "E"],
                "optimizer": {"type": "sgd", "lr": LR},
                "losses": {"g_real": 1.0, "g_fake": 1.0},
                **generator,
                **extra,
            },
        ],
        "train": {"batch_size": 8, "device": "cpu"},
    }


def _engine(fresh: str | None = None, **extra):
    return build_engine(spec_from_dict(_spec(fresh, **extra)), torch.device("cpu"))


def _actions(engine) -> dict[str, bool]:
    """node → computed (True) or reused (False) in the second phase."""
    return {a.call.key: a.compute for a in engine.plan()[1].actions}


def test_what_each_mode_reuses():
    reuse_all = {"z_enc": False, "x_fake": False, "d_real": True, "d_fake": True}
    assert _actions(_engine()) == reuse_all
    assert _actions(_engine("none")) == reuse_all
    # new latents: G(z) again, but E(x) (the data alone) is kept
    assert _actions(_engine("latents"))["z_enc"] is False
    assert _actions(_engine("latents"))["x_fake"] is True
    assert all(_actions(_engine("batch")).values())
    assert _actions(_engine(fresh_batch=True)) == _actions(_engine("batch"))
    assert [ex.fresh for ex in _engine("latents").plan()] == ["none", "latents"]


def test_latents_only_step_equals_a_hand_written_step():
    engine = _engine("latents")
    rec = record_step(engine)
    assert len(rec.sources) == 2  # the step's draw, then the generator phase's latents
    first, second = rec.sources
    assert torch.equal(first["x"], second["x"]) and not torch.equal(first["z"], second["z"])
    E, G, D = (copy.deepcopy(rec.initial[n]) for n in ("E", "G", "D"))
    x = first["x"]

    def sgd(module, loss):
        grads = torch.autograd.grad(loss, list(module.parameters()))
        with torch.no_grad():
            for p, g in zip(module.parameters(), grads, strict=True):
                p -= LR * g

    def bce(logits, target: float):
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))

    z_enc = E(x)
    d_loss = bce(D(x, z_enc.detach()), 1) + bce(D(G(first["z"]).detach(), first["z"]), 0)
    sgd(D, d_loss)
    z = second["z"]  # fresh latents; E(x) is the same value (E has not stepped)
    g_loss = bce(D(x, z_enc), 0) + bce(D(G(z), z), 1)
    grads = torch.autograd.grad(g_loss, [*G.parameters(), *E.parameters()])
    with torch.no_grad():
        for p, g in zip([*G.parameters(), *E.parameters()], grads, strict=True):
            p -= LR * g
    for name, ref in (("E", E), ("G", G), ("D", D)):
        for a, b in zip(engine.networks[name].parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    reused = _engine()
    reused.load_state_dict({"networks": {k: v.state_dict() for k, v in rec.initial.items()}})
    reused.step(first)
    assert not torch.allclose(
        torch.cat([p.flatten() for p in reused.networks["G"].parameters()]),
        torch.cat([p.flatten() for p in engine.networks["G"].parameters()]),
    )


def test_latents_only_leaves_the_data_stream_alone():
    latents, none, batch = _engine("latents"), _engine(), _engine("batch")
    for engine in (latents, none, batch):
        engine.step()
    assert latents.data.position == none.data.position
    assert batch.data.position == none.data.position + 1  # one more batch drawn


def test_fresh_contradicting_fresh_batch_is_refused():
    with pytest.raises(SpecError, match="contradicts fresh_batch"):
        spec_from_dict(_spec("latents", fresh_batch=True))
    spec_from_dict(_spec("batch", fresh_batch=True))  # the same thing twice is fine
