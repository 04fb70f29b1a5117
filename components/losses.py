"""The generic loss library: pure functions of named tensors, no state, no ``backward()``.

Conventions, so that specs read the same whatever the loss:

* ``target`` is a constant (broadcast to the input's shape), a node, or for
  cross-entropy a node of class indices (or of class probabilities).
* For adversarial losses the target is the label the term pushes towards: ``1`` for
  "real", ``0`` for "fake". Swapping ``bce_logits`` for ``mse`` (least squares) or
  ``wasserstein`` keeps the same spec shape.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gan.core.components import Loss, LossParams, NodeRef
from gan.core.hooks import hookimpl

Target = torch.Tensor | float | None


def _like(input: torch.Tensor, target: Target, loss: str) -> torch.Tensor:
    if target is None:
        raise ValueError(f"loss '{loss}' needs a target (a constant or a node)")
    if isinstance(target, torch.Tensor):
        if target.shape != input.shape and target.numel() == input.numel():
            return target.reshape(input.shape).to(input.dtype)
        return target.to(input.dtype)
    return torch.full_like(input, float(target))


def bce_logits(input: torch.Tensor, target: Target) -> torch.Tensor:
    """Binary cross-entropy on logits (numerically stable; networks output logits)."""
    return F.binary_cross_entropy_with_logits(input, _like(input, target, "bce_logits"))


def mse(input: torch.Tensor, target: Target) -> torch.Tensor:
    """Mean squared error; the least-squares GAN loss when the target is a label."""
    return F.mse_loss(input, _like(input, target, "mse"))


def l1(input: torch.Tensor, target: Target) -> torch.Tensor:
    """Mean absolute error, e.g. reconstruction."""
    return F.l1_loss(input, _like(input, target, "l1"))


class CrossEntropyParams(LossParams):
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)


def cross_entropy(input: torch.Tensor, target: Target, label_smoothing: float = 0.0):
    """Cross-entropy of logits against class indices (int) or class probabilities."""
    if not isinstance(target, torch.Tensor):
        raise ValueError("loss 'cross_entropy' needs a target node (class indices)")
    if target.dtype.is_floating_point:
        target = target.to(input.dtype)
    return F.cross_entropy(input, target, label_smoothing=label_smoothing)


def wasserstein(input: torch.Tensor, target: Target) -> torch.Tensor:
    """Critic score: ``-mean(input)`` for target 1 ("real"), ``+mean`` for target 0."""
    if isinstance(target, torch.Tensor) or target not in (0, 1, 0.0, 1.0):
        raise ValueError("loss 'wasserstein' takes target = 1 (real) or 0 (fake)")
    return -input.mean() if target == 1 else input.mean()


class GradientPenaltyParams(LossParams):
    wrt: NodeRef = Field(description="Node the critic output is differentiated against.")
    center: float = Field(1.0, description="Target gradient norm (1 for WGAN-GP).")
    epsilon: Literal["per_example", "per_batch"] = Field(
        "per_example",
        description="How the interpolation weights of ``wrt`` are drawn: one ε ~ U(0, 1) "
        "per example (WGAN-GP) or one for the whole batch (ClusterGAN's official code, "
        "tf.random_uniform([])). An option of the op producing ``wrt`` (interpolate), "
        "passed to it when set.",
    )


def gradient_penalty(
    input: torch.Tensor, target: Target, wrt: torch.Tensor, center: float = 1.0
) -> torch.Tensor:
    """WGAN-GP: ``mean((‖∂input/∂wrt‖₂ − center)²)`` (Gulrajani et al., 2017).

    ``wrt`` must be produced by a grad-leaf op such as ``interpolate``.
    """
    (grad,) = torch.autograd.grad(input.sum(), wrt, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return ((norm - center) ** 2).mean()


class GaussianNLLParams(LossParams):
    logvar: NodeRef | None = Field(None, description="Node with log-variances; None = unit.")


def gaussian_nll(
    input: torch.Tensor, target: Target, logvar: torch.Tensor | None = None
) -> torch.Tensor:
    """Gaussian negative log-likelihood of ``target`` under N(input, exp(logvar)),
    constant dropped; with unit variance it is half the squared error."""
    t = _like(input, target, "gaussian_nll")
    if logvar is None:
        return 0.5 * ((t - input) ** 2).sum(dim=-1).mean()
    return 0.5 * (logvar + (t - input) ** 2 / logvar.exp()).sum(dim=-1).mean()


LOSSES = [
    Loss("bce_logits", bce_logits),
    Loss("mse", mse),
    Loss("l1", l1),
    Loss("cross_entropy", cross_entropy, CrossEntropyParams),
    Loss("wasserstein", wasserstein),
    Loss(
        "gradient_penalty",
        gradient_penalty,
        GradientPenaltyParams,
        forwards=(("epsilon", "wrt"),),
    ),
    Loss("gaussian_nll", gaussian_nll, GaussianNLLParams),
]


@hookimpl
def gan_losses():
    return LOSSES
