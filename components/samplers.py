"""Built-in latent samplers (priors): ``normal``, ``uniform``, ``categorical``.

A plugin like any other: it registers through the ``gan_samplers`` hook.
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator

from gan.core.components import BuildContext, Draw, Params, Sampler
from gan.core.hooks import hookimpl


class NormalParams(Params):
    dim: int = Field(ge=1, le=1_000_000)
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


def normal(p: NormalParams, ctx: BuildContext) -> Draw:
    """Gaussian noise N(mean, std²) of shape (batch, dim)."""

    def draw(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        z = torch.randn(n, p.dim, generator=gen, device=gen.device)
        return (z * p.std + p.mean).to(device)

    return draw


class UniformParams(Params):
    dim: int = Field(ge=1, le=1_000_000)
    low: float = -1.0
    high: float = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> UniformParams:
        if not self.low < self.high:  # reversed bounds would draw from (high, low) silently
            raise ValueError(f"low = {self.low} must be below high = {self.high}")
        return self


def uniform(p: UniformParams, ctx: BuildContext) -> Draw:
    """Uniform noise U(low, high) of shape (batch, dim)."""

    def draw(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        u = torch.rand(n, p.dim, generator=gen, device=gen.device)
        return (u * (p.high - p.low) + p.low).to(device)

    return draw


class CategoricalParams(Params):
    classes: int | None = Field(None, ge=1, le=1_000_000, description="None = the data's.")


def categorical(p: CategoricalParams, ctx: BuildContext) -> Draw:
    """Uniform class indices in [0, classes), int64 of shape (batch,)."""
    classes = p.classes or ctx.num_classes

    def draw(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randint(0, classes, (n,), generator=gen, device=gen.device).to(device)

    return draw


@hookimpl
def gan_samplers():
    return [
        Sampler("normal", normal, NormalParams),
        Sampler("uniform", uniform, UniformParams),
        Sampler("categorical", categorical, CategoricalParams),
    ]
