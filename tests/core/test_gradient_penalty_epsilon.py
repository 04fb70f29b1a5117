"""The gradient penalty's interpolation weight ε: one per example (WGAN-GP) or one per
batch (ClusterGAN's official code), chosen on the ``gradient_penalty`` loss."""

from __future__ import annotations

import pytest
import torch

from gan.components.losses import gradient_penalty
from gan.components.ops import interpolate
from gan.core.errors import SpecError
from gan.testing import tiny_engine


def _points(epsilon: str, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    a = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    b = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    return a, b, interpolate(a, b, generator=gen, epsilon=epsilon)


def _weights(a, b, x_hat) -> torch.Tensor:
    """ε of each row, recovered from x_hat = ε·a + (1 − ε)·b."""
    return ((x_hat - b) / (a - b)).flatten(1).detach()


def test_per_batch_draws_one_epsilon_for_every_example():
    a, b, x_hat = _points("per_batch")
    eps = _weights(a, b, x_hat)
    expected = torch.rand(1, generator=torch.Generator().manual_seed(3)).double()
    torch.testing.assert_close(eps, expected.expand_as(eps))
    a, b, x_hat = _points("per_example")
    eps = _weights(a, b, x_hat)
    assert eps[:, 0].unique().numel() == 6  # one ε per row, constant within the row
    torch.testing.assert_close(eps, eps[:, :1].expand_as(eps))


def _penalty_by_hand(a, b, eps: torch.Tensor) -> torch.Tensor:
    # critic D(x) = Σ x² per example: ∂D/∂x = 2x, so ‖∇‖ = 2‖ε a + (1 − ε) b‖
    points = eps.view(-1, 1, 1, 1) * a + (1 - eps.view(-1, 1, 1, 1)) * b
    return ((2 * points.flatten(1).norm(dim=1) - 1) ** 2).mean()


def test_penalty_matches_hand_computation_and_modes_differ():
    penalties = {}
    for mode in ("per_batch", "per_example"):
        a, b, x_hat = _points(mode)
        critic = (x_hat**2).flatten(1).sum(dim=1)
        penalties[mode] = gradient_penalty(critic, None, wrt=x_hat)
        gen = torch.Generator().manual_seed(3)
        eps = torch.rand(1 if mode == "per_batch" else 6, generator=gen).double()
        torch.testing.assert_close(penalties[mode], _penalty_by_hand(a, b, eps.expand(6)))
    assert not torch.isclose(penalties["per_batch"], penalties["per_example"])


SMALL = (
    "networks.G.fc=[16]",
    "networks.G.channels=[8, 4]",
    "networks.D.channels=[4, 8]",
    "networks.D.fc=[16]",
    "networks.E.channels=[4, 8]",
    "networks.E.fc=[16]",
)


def test_the_loss_option_reaches_the_interpolation_op():
    engine = tiny_engine("clustergan", "losses.gp.epsilon=per_batch", *SMALL, batch_size=8)
    (call,) = engine.model.op_options
    assert call.func == "interpolate" and engine.model.op_options[call] == {"epsilon": "per_batch"}
    values = engine.draw_sources()
    out = engine.compute(["x_hat", "x_fake"], values)
    eps = _weights(values["x"], out["x_fake"], out["x_hat"])
    torch.testing.assert_close(eps, eps[:1, :1].expand_as(eps), rtol=1e-3, atol=1e-4)
    # unset: nothing is forwarded (the op's own default, one ε per example)
    from helpers import read_spec

    from gan.core.resolve import resolve
    from gan.core.spec import spec_from_dict

    data = read_spec("clustergan")
    data["losses"]["gp"].pop("epsilon", None)
    assert resolve(spec_from_dict(data, ["data.source=digits"])).op_options == {}


def test_epsilon_on_a_node_no_op_draws_is_refused():
    with pytest.raises(SpecError, match=r"losses\.gp\.epsilon.*interpolate"):
        tiny_engine("clustergan", "losses.gp.epsilon=per_batch", "losses.gp.wrt=x_fake", *SMALL)
