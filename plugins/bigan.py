"""BiGAN — Adversarial Feature Learning (Donahue, Krähenbühl & Darrell, ICLR 2017).

An encoder E maps images to latents, a generator G maps latents to images, and a
discriminator D tells real pairs (x, E(x)) from generated pairs (G(z), z). E and G are
trained together (one optimizer) with the non-saturating, label-swapped loss.

Networks follow the paper's permutation-invariant MNIST setup (its appendix): z is
50-d uniform on [-1, 1]; fully-connected 1024-unit layers with batch normalisation.
Differences, on purpose: outputs are logits (the engine uses a stable BCE-with-logits
instead of Sigmoid + BCELoss) and images are scaled to [-1, 1] with a tanh output
(the paper used [0, 1] with a sigmoid).

The seed snippet this model came from has three bugs, all avoided by ``specs/bigan.toml``:
D's (x, z) argument order differs between its two calls, ``optimizer_D.zero_grad()`` is
missing, and E/G use the saturating loss ``-0.5 * (...)``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from gan.api import BuildContext, Network, hookimpl
from gan.plugins.blocks import BatchNormParams, batch_norm_of


class BiganParams(BatchNormParams):
    latent_dim: int = Field(50, ge=1, le=100_000)
    hidden: int = Field(1024, ge=1, le=1_000_000)
    negative_slope: float = 0.2


class GeneratorParams(BiganParams):
    output: Literal["tanh", "sigmoid", "none"] = Field(
        "tanh",
        description="Output activation: tanh for data on [-1, 1], sigmoid for [0, 1] "
        "(the official deconvnet_mnist_mlp, net.py).",
    )


class EncoderParams(BiganParams):
    penultimate: bool = Field(
        False,
        description="Also return the last hidden layer's features (the official "
        "code's NNC_e- probe, which 'normally works better' than E(x)): E(x) → (z, h).",
    )


class Generator(nn.Module):
    """z → FC1024-BN-ReLU → FC1024-BN-ReLU → FC(image)-tanh (or ``output``)."""

    def __init__(self, p: GeneratorParams, ctx: BuildContext) -> None:
        super().__init__()
        self.image_shape = ctx.image_shape
        h = p.hidden
        self.net = nn.Sequential(
            nn.Linear(p.latent_dim, h),
            batch_norm_of(h, p),
            nn.ReLU(),
            nn.Linear(h, h),
            batch_norm_of(h, p),
            nn.ReLU(),
            nn.Linear(h, math.prod(ctx.image_shape)),
            {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "none": nn.Identity}[p.output](),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class Encoder(nn.Module):
    """x → FC1024-LReLU → FC1024-BN-LReLU → FC(latent); with ``penultimate`` also the
    FC1024-BN-LReLU features."""

    def __init__(self, p: EncoderParams, ctx: BuildContext) -> None:
        super().__init__()
        h = p.hidden
        self.penultimate = p.penultimate
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(ctx.image_shape), h),
            nn.LeakyReLU(p.negative_slope),
            nn.Linear(h, h),
            batch_norm_of(h, p),
            nn.LeakyReLU(p.negative_slope),
        )
        self.out = nn.Linear(h, p.latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return (self.out(h), h) if self.penultimate else self.out(h)


class Discriminator(nn.Module):
    """D(x, z): x → FC1024-LReLU and z → FC1024-LReLU, joined → FC1024-BN-LReLU → logit.

    The argument order is always (image, latent), for real and generated pairs alike.
    """

    def __init__(self, p: BiganParams, ctx: BuildContext) -> None:
        super().__init__()
        h, s = p.hidden, p.negative_slope
        self.x_path = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(ctx.image_shape), h), nn.LeakyReLU(s)
        )
        self.z_path = nn.Sequential(nn.Linear(p.latent_dim, h), nn.LeakyReLU(s))
        self.joint = nn.Sequential(
            nn.Linear(2 * h, h), batch_norm_of(h, p), nn.LeakyReLU(s), nn.Linear(h, 1)
        )

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.x_path(x), self.z_path(z)], dim=1))


@hookimpl
def gan_networks():
    return [
        Network("bigan.generator", Generator, GeneratorParams),
        Network("bigan.encoder", Encoder, EncoderParams),
        Network("bigan.discriminator", Discriminator, BiganParams),
    ]
