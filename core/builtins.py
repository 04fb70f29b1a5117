"""Built-in generic components: samplers, ops, optimizers, losses and data sources.

This module is a plugin like any other: it registers through the same hooks.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gan.core import data, losses
from gan.core.components import BuildContext, Op, Optimizer, Params, Sampler
from gan.core.hooks import hookimpl

# -- samplers -------------------------------------------------------------------------


class NormalParams(Params):
    dim: int = Field(ge=1, le=1_000_000)
    mean: float = 0.0
    std: float = Field(1.0, gt=0)


def normal(p: NormalParams, ctx: BuildContext):
    """Gaussian noise N(mean, std²) of shape (batch, dim)."""

    def draw(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        z = torch.randn(n, p.dim, generator=gen, device=gen.device)
        return (z * p.std + p.mean).to(device)

    return draw


class UniformParams(Params):
    dim: int = Field(ge=1, le=1_000_000)
    low: float = -1.0
    high: float = 1.0


def uniform(p: UniformParams, ctx: BuildContext):
    """Uniform noise U(low, high) of shape (batch, dim)."""

    def draw(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        u = torch.rand(n, p.dim, generator=gen, device=gen.device)
        return (u * (p.high - p.low) + p.low).to(device)

    return draw


class CategoricalParams(Params):
    classes: int | None = Field(None, ge=1, le=1_000_000, description="None = the data's.")


def categorical(p: CategoricalParams, ctx: BuildContext):
    """Uniform class indices in [0, classes), int64 of shape (batch,)."""
    classes = p.classes or ctx.num_classes

    def draw(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randint(0, classes, (n,), generator=gen, device=gen.device).to(device)

    return draw


# -- ops ------------------------------------------------------------------------------


def cat(*tensors: torch.Tensor) -> torch.Tensor:
    """Concatenate along the feature dimension (flattening each input first)."""
    return torch.cat([t.flatten(1) for t in tensors], dim=1)


def one_hot(indices: torch.Tensor, classes: int) -> torch.Tensor:
    """Class indices → float one-hot vectors."""
    return F.one_hot(indices.long(), int(classes)).float()


def flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, …) → (N, features)."""
    return x.flatten(1)


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension."""
    return torch.softmax(x, dim=-1)


def argmax(x: torch.Tensor) -> torch.Tensor:
    """Index of the largest entry of the last dimension."""
    return x.argmax(dim=-1)


def label_maps(images: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Images with each code (e.g. a one-hot label) appended as constant channels:
    (N, C, H, W) + (N, K) → (N, C + K, H, W), the conditional discriminator input of
    conv CGANs (the label "tiled" over the image)."""
    maps = codes.float()[:, :, None, None].expand(-1, -1, *images.shape[-2:])
    return torch.cat([images, maps.to(images.dtype)], dim=1)


def gaussian_noise(x: torch.Tensor, std: float, *, generator: torch.Generator) -> torch.Tensor:
    """``x`` plus N(0, std²) noise (a fresh draw per element): the GaussianNoise input
    layer of the AAE adversaries, which keeps a categorical adversary from telling
    one-hot prior samples from soft encoder outputs by their exactness alone."""
    noise = torch.randn(x.shape, generator=generator, device=generator.device)
    return x + float(std) * noise.to(device=x.device, dtype=x.dtype)


def interpolate(a: torch.Tensor, b: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Random points between ``a`` and ``b`` (one ε ~ U(0,1) per row), as a fresh
    leaf that requires grad: the input of a WGAN-GP gradient penalty."""
    eps = torch.rand(a.shape[0], generator=generator, device=generator.device).to(a.device)
    eps = eps.view(-1, *([1] * (a.dim() - 1)))
    return (eps * a.detach() + (1 - eps) * b.detach()).requires_grad_(True)


def split(x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Feature columns ``start:stop`` of a (N, F) tensor (e.g. one code of a Q head)."""
    return x[:, int(start) : int(stop)]


# -- optimizers -----------------------------------------------------------------------


Beta = Annotated[float, Field(ge=0.0, lt=1.0)]


class AdamParams(Params):
    lr: float = Field(2e-4, gt=0)
    betas: tuple[Beta, Beta] = (0.5, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    amsgrad: bool = False
    implementation: Literal["auto", "foreach", "fused", "for-loop"] = Field(
        "auto", description="auto = torch's fused kernel on CPU/CUDA (measured fastest)."
    )


class SGDParams(Params):
    lr: float = Field(1e-2, gt=0)
    momentum: float = Field(0.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    nesterov: bool = False
    implementation: Literal["auto", "foreach", "for-loop"] = "auto"


class RMSpropParams(Params):
    lr: float = Field(5e-5, gt=0)
    alpha: float = Field(0.99, gt=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    momentum: float = Field(0.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    implementation: Literal["auto", "foreach", "for-loop"] = "auto"


FUSED_DEVICES = ("cpu", "cuda")


def _fusable(parameters: list) -> bool:
    """Fused kernels need plain floating-point tensors on a CPU or CUDA device.
    ``parameters`` holds tensors or parameter groups (dicts with ``params``)."""
    tensors = [t for p in parameters for t in (p["params"] if isinstance(p, dict) else [p])]
    return all(
        isinstance(p, torch.Tensor) and p.dtype.is_floating_point and p.device.type in FUSED_DEVICES
        for p in tensors
    )


def _impl(params: dict, parameters: list, fused_auto: bool) -> dict:
    """torch's flags for ``implementation``. ``auto`` picks the fused kernel where the
    optimizer has one that was measured faster (Adam/AdamW: on a 2-core CPU the step of
    specs/cgan.toml's optimizers fell from 8.8 to 2.3 ms, see bench/results/speed.md);
    otherwise torch's own default."""
    impl = params.pop("implementation", "auto")
    if impl == "foreach":
        params["foreach"] = True
    elif impl == "fused" or (impl == "auto" and fused_auto and _fusable(parameters)):
        params["fused"] = True
    elif impl == "for-loop":
        params["foreach"] = False
    return params


def _optimizer(cls, fused_auto: bool = False):
    def build(parameters, **params):
        parameters = list(parameters)
        return cls(parameters, **_impl(dict(params), parameters, fused_auto))

    build.__doc__ = f"torch.optim.{cls.__name__}"
    return build


@hookimpl
def gan_samplers():
    return [
        Sampler("normal", normal, NormalParams),
        Sampler("uniform", uniform, UniformParams),
        Sampler("categorical", categorical, CategoricalParams),
    ]


@hookimpl
def gan_ops():
    return [
        Op("cat", cat),
        Op("one_hot", one_hot),
        Op("flatten", flatten),
        Op("softmax", softmax),
        Op("argmax", argmax),
        Op("split", split),
        Op("label_maps", label_maps),
        Op("gaussian_noise", gaussian_noise, random=True),
        Op("interpolate", interpolate, random=True, grad_leaf=True),
    ]


@hookimpl
def gan_optimizers():
    return [
        Optimizer("adam", _optimizer(torch.optim.Adam, fused_auto=True), AdamParams),
        Optimizer("adamw", _optimizer(torch.optim.AdamW, fused_auto=True), AdamParams),
        Optimizer("sgd", _optimizer(torch.optim.SGD), SGDParams),
        Optimizer("rmsprop", _optimizer(torch.optim.RMSprop), RMSpropParams),
    ]


@hookimpl
def gan_losses():
    return losses.LOSSES


@hookimpl
def gan_data_sources():
    return data.DATA_SOURCES
