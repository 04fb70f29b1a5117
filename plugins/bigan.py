"""BiGAN — Adversarial Feature Learning (Donahue, Krähenbühl & Darrell, ICLR 2017).

An encoder E maps images to latents, a generator G maps latents to images, and a
discriminator D tells real pairs (x, E(x)) from generated pairs (G(z), z). E and G are
trained together (one optimizer) with the non-saturating, label-swapped loss.

Networks follow the paper's permutation-invariant MNIST setup (its appendix): z is
50-d uniform on [-1, 1]; fully-connected 1024-unit layers with batch normalisation.
Their defaults are the common reading (biased layers, PyTorch's initialisation, E's
output unbounded, z on its own path into D, tanh on [-1, 1] data); the options
``bias``, ``latent_skip``, ``output = "uniform"``, ``latent_path = "added"`` and
``logit_init`` give the official code's networks (jeffdonahue/bigan net.py, gan.py,
dist.py), which ``specs/bigan.toml`` uses, citing each. D returns a logit (the engine
uses a stable BCE-with-logits instead of Sigmoid + BCELoss).

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

from gan.api import KEEPS_INIT, BuildContext, Network, hookimpl
from gan.plugins.blocks import BatchNormParams, batch_norm_of


class BiganParams(BatchNormParams):
    latent_dim: int = Field(50, ge=1, le=100_000)
    hidden: int = Field(1024, ge=1, le=1_000_000)
    negative_slope: float = 0.2
    bias: bool = Field(
        True,
        description="Fully-connected layers with a bias. The official layers have none "
        "(net.py FC: a weight only; train_mnist.sh --nobias removes BatchNorm's too).",
    )


class GeneratorParams(BiganParams):
    output: Literal["tanh", "sigmoid", "none"] = Field(
        "tanh",
        description="Output activation: tanh for data on [-1, 1], sigmoid for [0, 1] "
        "(the official deconvnet_mnist_mlp, net.py).",
    )
    latent_skip: bool = Field(
        False,
        description="z also enters the second layer, W·z added before its BatchNorm "
        "(net.py deconvnet_mnist_mlp: acts → apply_cond with cond = z).",
    )


class EncoderParams(BiganParams):
    penultimate: bool = Field(
        False,
        description="Also return the last hidden layer's features (the official "
        "code's NNC_e- probe, which 'normally works better' than E(x)): E(x) → (z, h).",
    )
    output: Literal["linear", "uniform"] = Field(
        "linear",
        description="'uniform': 2·sigmoid(·) − 1, into a U[−1, 1] latent's range "
        "(dist.py UniformDistribution.logits_to_recon, what train_gan.py "
        "sample_z_from_x feeds the joint discriminator); 'linear': unbounded.",
    )
    logits: bool = Field(
        False,
        description="Also return the output layer's values before 'uniform' squashes them "
        "(last): the official NNC_e probe's feature (train_gan.py _enc_l2distable = "
        "dist.l2distable(enc_preds), the logits for a uniform latent).",
    )


class DiscriminatorParams(BiganParams):
    latent_path: Literal["joined", "added"] = Field(
        "joined",
        description="'joined': x → FC-LReLU and z → FC-LReLU, concatenated, then "
        "FC-BN-LReLU; 'added': z enters the second layer as W_z·z added to W·h(x) before "
        "its BatchNorm (net.py convnet arch mnist_mlp, apply_cond with cond = z).",
    )
    logit_init: Literal["same", "zeros"] = Field(
        "same",
        description="'zeros': the logit layer starts at zero (gan.py BinaryClassifier → "
        "LinearPredictor, stddev 0).",
    )


def _linear(n_in: int, n_out: int, p: BiganParams) -> nn.Linear:
    return nn.Linear(n_in, n_out, bias=p.bias)


class Generator(nn.Module):
    """z → FC1024-BN-ReLU → FC1024(+ W·z with ``latent_skip``)-BN-ReLU → FC(image)-tanh
    (or ``output``)."""

    def __init__(self, p: GeneratorParams, ctx: BuildContext) -> None:
        super().__init__()
        self.image_shape = ctx.image_shape
        h = p.hidden
        self.net = nn.Sequential(
            _linear(p.latent_dim, h, p),
            batch_norm_of(h, p),
            nn.ReLU(),
            _linear(h, h, p),
            batch_norm_of(h, p),
            nn.ReLU(),
            _linear(h, math.prod(ctx.image_shape), p),
            {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "none": nn.Identity}[p.output](),
        )
        self.skip = _linear(p.latent_dim, h, p) if p.latent_skip else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.skip is None:
            x = self.net(z)
        else:  # the second layer's pre-activation gets W·z before its BatchNorm
            x = self.net[4:](self.net[3](self.net[:3](z)) + self.skip(z))
        return x.view(z.shape[0], *self.image_shape)


class Encoder(nn.Module):
    """x → FC1024-LReLU → FC1024-BN-LReLU → FC(latent) (→ 2σ − 1 with ``output =
    "uniform"``); with ``penultimate`` also the FC1024-BN-LReLU features, with ``logits``
    also the output layer's values before the squashing: ``(z[, h][, logits])``."""

    def __init__(self, p: EncoderParams, ctx: BuildContext) -> None:
        super().__init__()
        h = p.hidden
        self.penultimate = p.penultimate
        self.logits = p.logits
        self.uniform = p.output == "uniform"
        self.body = nn.Sequential(
            nn.Flatten(),
            _linear(math.prod(ctx.image_shape), h, p),
            nn.LeakyReLU(p.negative_slope),
            _linear(h, h, p),
            batch_norm_of(h, p),
            nn.LeakyReLU(p.negative_slope),
        )
        self.out = _linear(h, p.latent_dim, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        h = self.body(x)
        logits = self.out(h)
        z = 2.0 * torch.sigmoid(logits) - 1.0 if self.uniform else logits
        outputs = (z, *((h,) if self.penultimate else ()), *((logits,) if self.logits else ()))
        return outputs if len(outputs) > 1 else z


class Discriminator(nn.Module):
    """D(x, z) → logit. ``latent_path = "joined"``: x → FC1024-LReLU and z → FC1024-LReLU,
    concatenated → FC1024-BN-LReLU → logit. ``"added"`` (the official): x → FC1024-LReLU
    → FC1024 + W_z·z → BN-LReLU → logit.

    The argument order is always (image, latent), for real and generated pairs alike.
    """

    def __init__(self, p: DiscriminatorParams, ctx: BuildContext) -> None:
        super().__init__()
        h, s = p.hidden, p.negative_slope
        self.added = p.latent_path == "added"
        self.x_path = nn.Sequential(
            nn.Flatten(), _linear(math.prod(ctx.image_shape), h, p), nn.LeakyReLU(s)
        )
        logit = _linear(h, 1, p)
        self.z_path: nn.Module
        if self.added:
            self.x_second = _linear(h, h, p)
            self.z_path = _linear(p.latent_dim, h, p)
            self.joint = nn.Sequential(batch_norm_of(h, p), nn.LeakyReLU(s), logit)
        else:
            self.z_path = nn.Sequential(_linear(p.latent_dim, h, p), nn.LeakyReLU(s))
            self.joint = nn.Sequential(
                _linear(2 * h, h, p), batch_norm_of(h, p), nn.LeakyReLU(s), logit
            )
        if p.logit_init == "zeros":
            nn.init.zeros_(logit.weight)
            if logit.bias is not None:
                nn.init.zeros_(logit.bias)
            setattr(logit, KEEPS_INIT, True)  # a spec's [networks.D] init leaves it at 0

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.added:
            return self.joint(self.x_second(self.x_path(x)) + self.z_path(z))
        return self.joint(torch.cat([self.x_path(x), self.z_path(z)], dim=1))


@hookimpl
def gan_networks():
    return [
        Network("bigan.generator", Generator, GeneratorParams),
        Network("bigan.encoder", Encoder, EncoderParams),
        Network("bigan.discriminator", Discriminator, DiscriminatorParams),
    ]
