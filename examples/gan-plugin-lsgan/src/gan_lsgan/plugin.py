"""LSGAN — Least Squares Generative Adversarial Networks (Mao et al., ICCV 2017).

The discriminator outputs a raw score, not a probability, and both players minimise a
least-squares distance to a label instead of a cross-entropy:

    min_D  1/2 E_x[(D(x) - b)²] + 1/2 E_z[(D(G(z)) - a)²]
    min_G  1/2 E_z[(D(G(z)) - c)²]

with a = 0 (fake), b = 1 (real), c = 1 (what G wants D to say about its samples): the
paper's 0-1 coding (its Eq. 9). a = -1, b = 1, c = 0 minimises the Pearson χ² divergence
(its Eq. 8). The networks are DCGAN-style convolutional nets sized to the data's images.

This module is the whole plugin: every ``@hookimpl`` function below returns component
declarations that ``gan`` collects through the ``gan.plugins`` entry point.
"""

from __future__ import annotations

import csv
from typing import Literal

import torch
from gan.api import BuildContext, Loss, LossParams, Network, Params, Sampler, hookimpl
from pydantic import Field, field_validator
from torch import nn

# -- networks ---------------------------------------------------------------------------


class GeneratorParams(Params):
    latent_dim: int = Field(64, ge=1, le=100_000, description="Width of the input z.")
    channels: int = Field(64, ge=1, le=4096, description="Feature maps of the last conv.")


class DiscriminatorParams(Params):
    channels: int = Field(64, ge=1, le=4096, description="Feature maps of the first conv.")
    negative_slope: float = Field(0.2, ge=0.0, lt=1.0)


def _quarter(ctx: BuildContext) -> tuple[int, int]:
    """Height and width after two stride-2 convolutions (the sides must divide by 4)."""
    _, h, w = ctx.image_shape
    if h % 4 or w % 4:
        raise ValueError(f"image sides must be multiples of 4, got {h}×{w} (set data.image_size)")
    return h // 4, w // 4


def _dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) weights, N(1, 0.02) batch-norm scales."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """z → FC → (2c, H/4, W/4) -BN-ReLU → deconv c -BN-ReLU → deconv image -tanh."""

    def __init__(self, p: GeneratorParams, ctx: BuildContext) -> None:
        super().__init__()
        self.h, self.w = _quarter(ctx)
        self.c = 2 * p.channels
        self.project = nn.Linear(p.latent_dim, self.c * self.h * self.w, bias=False)
        self.net = nn.Sequential(
            nn.BatchNorm2d(self.c),
            nn.ReLU(),
            nn.ConvTranspose2d(self.c, p.channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(p.channels),
            nn.ReLU(),
            nn.ConvTranspose2d(p.channels, ctx.image_shape[0], 4, stride=2, padding=1),
            nn.Tanh(),
        )
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, self.c, self.h, self.w))


class Discriminator(nn.Module):
    """x → conv c -LReLU → conv 2c -BN-LReLU → FC → one raw score (no sigmoid)."""

    def __init__(self, p: DiscriminatorParams, ctx: BuildContext) -> None:
        super().__init__()
        h, w = _quarter(ctx)
        c, s = p.channels, p.negative_slope
        self.net = nn.Sequential(
            nn.Conv2d(ctx.image_shape[0], c, 4, stride=2, padding=1),
            nn.LeakyReLU(s),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(2 * c),
            nn.LeakyReLU(s),
            nn.Flatten(),
            nn.Linear(2 * c * h * w, 1),
        )
        _dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# -- samplers ---------------------------------------------------------------------------


class TruncatedNormalParams(Params):
    dim: int = Field(ge=1, le=1_000_000)
    threshold: float = Field(2.0, gt=0, description="Redraw entries with |z| above this.")


def truncated_normal(p: TruncatedNormalParams, ctx: BuildContext):
    """N(0, 1) noise with every entry redrawn until |z| ≤ threshold."""

    def draw(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        z = torch.randn(n, p.dim, generator=gen, device=gen.device)
        out = z.abs() > p.threshold
        while out.any():
            z[out] = torch.randn(int(out.sum()), generator=gen, device=gen.device)
            out = z.abs() > p.threshold
        return z.to(device)

    return draw


# -- losses -----------------------------------------------------------------------------


class LeastSquaresParams(LossParams):
    label: Literal["a", "b", "c"] = Field(
        description="The paper's label this term pulls the score to: a (fake, in D's "
        "loss), b (real, in D's loss) or c (G's wish for its samples)."
    )
    a: float = Field(0.0, description="Label of generated samples for D.")
    b: float = Field(1.0, description="Label of real samples for D.")
    c: float = Field(1.0, description="Value G wants D to give its samples.")

    @field_validator("target")
    @classmethod
    def _no_target(cls, value: object) -> None:
        if value is not None:
            raise ValueError('lsgan.least_squares takes `label = "a" | "b" | "c"`, not target')
        return None


def least_squares(
    input: torch.Tensor,
    target: None,
    label: str,
    a: float = 0.0,
    b: float = 1.0,
    c: float = 1.0,
) -> torch.Tensor:
    """Least-squares GAN term ``mean((input - label)²)``, label ∈ {a, b, c}."""
    value = {"a": a, "b": b, "c": c}[label]
    return ((input - value) ** 2).mean()


# -- the hooks --------------------------------------------------------------------------


@hookimpl
def gan_networks():
    return [
        Network("lsgan.generator", Generator, GeneratorParams),
        Network("lsgan.discriminator", Discriminator, DiscriminatorParams),
    ]


@hookimpl
def gan_samplers():
    return [Sampler("lsgan.truncated_normal", truncated_normal, TruncatedNormalParams)]


@hookimpl
def gan_losses():
    return [Loss("lsgan.least_squares", least_squares, LeastSquaresParams)]


# -- a logger of its own: the trainer's events ------------------------------------------


@hookimpl
def gan_log(trainer, step, losses, steps_per_s):
    """``losses.csv`` beside metrics.jsonl in the folder of every run of an LSGAN spec:
    one row per log step (step, steps/s, every loss term)."""
    uses_lsgan = any(n.type.startswith("lsgan.") for n in trainer.spec.networks.values())
    if not uses_lsgan or not trainer.dist.is_main:
        return
    path = trainer.out / "losses.csv"
    columns = ["step", "steps_per_s", *sorted(losses)]
    new = not path.exists() or step <= trainer.log_every
    with open(path, "w" if new else "a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(columns)
        writer.writerow([step, f"{steps_per_s:.3f}", *(losses[k] for k in columns[2:])])
