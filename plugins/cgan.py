"""Conditional GAN (Mirza & Osindero, "Conditional Generative Adversarial Nets",
arXiv:1411.1784, 2014).

Both players see the class label y: G(z | y) and D(x | y). As in the seed (PyTorch-GAN
``cgan.py``) the label enters each network through a learned ``nn.Embedding(n_classes,
n_classes)`` concatenated with the network's other input. The paper's own MNIST networks
were different (ReLU/maxout layers of 200/1000 units with dropout, a uniform z); these
are the seed's MLPs, which the spec follows on purpose.

The discriminator returns an unbounded score (no sigmoid) because the seed trains it with
the least-squares loss (``MSELoss`` against 1/0 labels, i.e. LSGAN, Mao et al. 2017)
rather than the paper's log-loss; ``specs/cgan.toml`` keeps that choice.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from gan.api import BuildContext, Network, Params, hookimpl
from gan.plugins.blocks import BatchNormParams, batch_norm_of


class GeneratorParams(BatchNormParams):
    latent_dim: int = Field(100, ge=1, le=100_000, description="Size of z (seed: 100).")
    classes: int | None = Field(None, ge=1, le=100_000, description="None = the data's.")
    hidden: list[int] = Field(default_factory=lambda: [128, 256, 512, 1024])
    negative_slope: float = 0.2
    batchnorm_eps: float = Field(
        1e-5,
        gt=0,
        description="BatchNorm eps. The seed's BatchNorm1d(n, 0.8) sets eps=0.8 (the "
        "second positional argument is eps, not momentum); 0.8 reproduces the seed.",
    )


class Generator(nn.Module):
    """G(z, y): [embed(y), z] → FC128-LReLU → (FC-BN-LReLU) × {256, 512, 1024} →
    FC(image)-tanh. The first block has no batch normalisation, as in the seed."""

    def __init__(self, p: GeneratorParams, ctx: BuildContext) -> None:
        super().__init__()
        classes = p.classes or ctx.num_classes
        self.image_shape = ctx.image_shape
        self.label_emb = nn.Embedding(classes, classes)
        layers: list[nn.Module] = []
        prev = p.latent_dim + classes
        for i, h in enumerate(p.hidden):
            if h < 1 or h > 1_000_000:
                raise ValueError(f"hidden width {h} is out of range")
            layers.append(nn.Linear(prev, h))
            if i > 0:
                layers.append(batch_norm_of(h, p))
            layers.append(nn.LeakyReLU(p.negative_slope))
            prev = h
        layers += [nn.Linear(prev, math.prod(ctx.image_shape)), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # the seed's order: label embedding first, then the noise
        h = torch.cat([self.label_emb(labels.long()), z.flatten(1)], dim=1)
        return self.model(h).view(z.shape[0], *self.image_shape)


class DiscriminatorParams(Params):
    classes: int | None = Field(None, ge=1, le=100_000, description="None = the data's.")
    hidden: int = Field(512, ge=1, le=1_000_000)
    dropout: float = Field(0.4, ge=0, lt=1)
    negative_slope: float = 0.2


class Discriminator(nn.Module):
    """D(x, y): [x, embed(y)] → FC512-LReLU → (FC512-Dropout-LReLU) × 2 → FC1, a score.

    Dropout sits before the activation as in the seed (the two commute for p < 1, as
    LeakyReLU is positively homogeneous).
    """

    def __init__(self, p: DiscriminatorParams, ctx: BuildContext) -> None:
        super().__init__()
        classes = p.classes or ctx.num_classes
        h, s = p.hidden, p.negative_slope
        self.label_embedding = nn.Embedding(classes, classes)
        self.model = nn.Sequential(
            nn.Linear(math.prod(ctx.image_shape) + classes, h),
            nn.LeakyReLU(s),
            nn.Linear(h, h),
            nn.Dropout(p.dropout),
            nn.LeakyReLU(s),
            nn.Linear(h, h),
            nn.Dropout(p.dropout),
            nn.LeakyReLU(s),
            nn.Linear(h, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x.flatten(1), self.label_embedding(labels.long())], dim=1)
        return self.model(h)


@hookimpl
def gan_networks() -> list[Network]:
    return [
        Network("cgan.generator", Generator, GeneratorParams),
        Network("cgan.discriminator", Discriminator, DiscriminatorParams),
    ]
