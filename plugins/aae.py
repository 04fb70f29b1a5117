"""Adversarial Autoencoders (Makhzani, Shlens, Jaitly, Goodfellow & Frey, ICLR 2016 workshop,
arXiv:1511.05644).

An autoencoder whose code distribution q(z) = E_x[q(z | x)] (the *aggregated posterior*)
is matched to a chosen prior p(z) by a GAN that works in code space: a discriminator
tells prior samples from codes of real images, and the encoder, acting as the GAN's
generator, learns to fool it. The decoder then maps any prior sample to a plausible image.

Two model families live here:

* ``aae.encoder`` / ``aae.decoder`` / ``aae.discriminator``: the Gaussian-prior AAE of the
  seed (PyTorch-GAN ``aae.py``), used by ``specs/aae.toml``. The encoder is the paper's
  "Gaussian posterior" variant (§2.1, choice 2): it predicts a mean and a log-variance
  and samples the code with the reparameterisation trick.
* ``aae.cluster_encoder`` / ``aae.cluster_decoder`` / ``aae.code_discriminator``: the
  unsupervised-clustering AAE of the paper's §6, used by ``specs/aae_clustering.toml``.
  The encoder q(y, z | x) outputs cluster logits y (a softmax is applied in the graph) and
  a style code z; two adversaries impose a categorical prior on y and a Gaussian on z.

One loss lives here too, ``aae.marginal_entropy_gap``: a batch balance term for the
clustering AAE, not in the paper, used by ``specs/aae_clustering_fast.toml`` (its comment
says why).

Every discriminator returns a *logit* (no sigmoid): the specs use ``bce_logits``, the
numerically stable form of the seed's ``Sigmoid`` + ``BCELoss``.

The reparameterisation noise is not drawn inside the encoder: it is a ``normal`` sampler
node passed in as a second argument (``E(x, eps)``). All randomness then comes from the
engine's sampler stream, so runs are reproducible and a fidelity test can replay it.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from gan.api import BuildContext, Loss, Network, Params, hookimpl

# -- the Gaussian-prior AAE of the seed ------------------------------------------------


class AAEParams(Params):
    """Sizes of the seed's networks (PyTorch-GAN ``aae.py``)."""

    latent_dim: int = Field(10, ge=1, le=100_000, description="Code size (seed: 10).")
    hidden: int = Field(512, ge=1, le=1_000_000, description="Hidden width (seed: 512).")
    negative_slope: float = Field(0.2, description="LeakyReLU slope (seed: 0.2).")


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + eps · exp(logvar / 2): a differentiable sample of N(mu, exp(logvar))."""
    return mu + eps * torch.exp(0.5 * logvar)


class Encoder(nn.Module):
    """q(z | x): x → FC512-LReLU → FC512-BN-LReLU → (mu, logvar) heads → reparameterised z.

    ``forward(x, eps)`` returns ``(z, mu, logvar)``; ``eps`` is standard normal noise of
    shape (N, latent_dim), drawn by a sampler node of the spec.
    """

    def __init__(self, p: AAEParams, ctx: BuildContext) -> None:
        super().__init__()
        h, s = p.hidden, p.negative_slope
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(ctx.image_shape), h),
            nn.LeakyReLU(s),
            nn.Linear(h, h),
            nn.BatchNorm1d(h),
            nn.LeakyReLU(s),
        )
        self.mu = nn.Linear(h, p.latent_dim)
        self.logvar = nn.Linear(h, p.latent_dim)

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.body(x)
        mu, logvar = self.mu(h), self.logvar(h)
        return reparameterize(mu, logvar, eps), mu, logvar


class Decoder(nn.Module):
    """p(x | z): z → FC512-LReLU → FC512-BN-LReLU → FC(image)-tanh, images in [-1, 1]."""

    def __init__(self, p: AAEParams, ctx: BuildContext) -> None:
        super().__init__()
        h, s = p.hidden, p.negative_slope
        self.image_shape = ctx.image_shape
        self.net = nn.Sequential(
            nn.Linear(p.latent_dim, h),
            nn.LeakyReLU(s),
            nn.Linear(h, h),
            nn.BatchNorm1d(h),
            nn.LeakyReLU(s),
            nn.Linear(h, math.prod(ctx.image_shape)),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class Discriminator(nn.Module):
    """D(z): z → FC512-LReLU → FC256-LReLU → FC1, a logit (the seed's Sigmoid is dropped:
    the spec's ``bce_logits`` applies it inside a stable loss)."""

    def __init__(self, p: AAEParams, ctx: BuildContext) -> None:
        super().__init__()
        h, s = p.hidden, p.negative_slope
        self.net = nn.Sequential(
            nn.Linear(p.latent_dim, h),
            nn.LeakyReLU(s),
            nn.Linear(h, h // 2),
            nn.LeakyReLU(s),
            nn.Linear(h // 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


# -- the unsupervised-clustering AAE of the paper's section 6 --------------------------


class ClusterParams(Params):
    """Sizes of the §6 networks. Defaults follow our reading of the paper's appendix for
    MNIST clustering: two hidden layers of 3000 ReLU units, 16 clusters, a 5-d style."""

    clusters: int = Field(16, ge=2, le=100_000, description="Number of clusters (y size).")
    style_dim: int = Field(5, ge=1, le=100_000, description="Style code size (z).")
    hidden: list[int] = Field(default_factory=lambda: [3000, 3000])


def _relu_stack(in_features: int, hidden: list[int]) -> tuple[nn.Sequential, int]:
    """Linear-ReLU layers (the paper's appendix uses ReLU throughout); returns the width."""
    layers: list[nn.Module] = []
    prev = in_features
    for h in hidden:
        if h < 1 or h > 1_000_000:
            raise ValueError(f"hidden width {h} is out of range")
        layers += [nn.Linear(prev, h), nn.ReLU()]
        prev = h
    return nn.Sequential(*layers), prev


class ClusterEncoder(nn.Module):
    """q(y, z | x): a shared ReLU body with two heads, cluster logits y and a style z.

    The softmax over y is applied in the graph (``softmax(y_logits)``), so the logits
    stay available for evaluation. The style head is deterministic: the paper uses a
    deterministic q(z | x) for its experiments and lets the adversary shape q(z).
    """

    def __init__(self, p: ClusterParams, ctx: BuildContext) -> None:
        super().__init__()
        self.body, width = _relu_stack(math.prod(ctx.image_shape), p.hidden)
        self.y_head = nn.Linear(width, p.clusters)
        self.z_head = nn.Linear(width, p.style_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x.flatten(1))
        return self.y_head(h), self.z_head(h)


class ClusterDecoder(nn.Module):
    """p(x | y, z): concatenated (y, z) → ReLU layers → FC(image)-tanh.

    The paper's decoder ends in a sigmoid on [0, 1] pixels; our images are in [-1, 1],
    so the output is a tanh (the same function, rescaled).
    """

    def __init__(self, p: ClusterParams, ctx: BuildContext) -> None:
        super().__init__()
        self.image_shape = ctx.image_shape
        body, width = _relu_stack(p.clusters + p.style_dim, p.hidden)
        self.net = nn.Sequential(body, nn.Linear(width, math.prod(ctx.image_shape)), nn.Tanh())

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([y.flatten(1), z.flatten(1)], dim=1))
        return out.view(out.shape[0], *self.image_shape)


class CodeDiscriminatorParams(Params):
    """A code-space adversary: ``in_features`` is the size of the code it judges."""

    in_features: int = Field(ge=1, le=1_000_000)
    hidden: list[int] = Field(default_factory=lambda: [3000, 3000])


class CodeDiscriminator(nn.Module):
    """D(code): ReLU layers → FC1, a logit (real = drawn from the prior)."""

    def __init__(self, p: CodeDiscriminatorParams, ctx: BuildContext) -> None:
        super().__init__()
        body, width = _relu_stack(p.in_features, p.hidden)
        self.net = nn.Sequential(body, nn.Linear(width, 1))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code.flatten(1))


def marginal_entropy_gap(input: torch.Tensor, target: object = None) -> torch.Tensor:
    """log K − H(E_batch[q(y | x)]): how far the batch's *average* cluster distribution is
    from uniform (0 when every cluster takes an equal share, log K when one takes all).

    Not in the paper: a balance term of the kind CatGAN (Springenberg 2016, the
    marginal-entropy term) and IMSAT use. The paper's categorical adversary sees one
    code at a time, so at a collapse — every image at one vertex — its gradient is the
    same for the whole batch and moves the batch to another vertex together (the
    hopping measured in bench/findings/quality.md); this term sees the batch and pushes
    images apart. ``input`` is the softmax q(y | x), shape (N, K)."""
    marginal = input.float().mean(dim=0)
    entropy = -(marginal * torch.log(marginal.clamp_min(1e-12))).sum()
    return math.log(input.shape[1]) - entropy


@hookimpl
def gan_losses() -> list[Loss]:
    return [Loss("aae.marginal_entropy_gap", marginal_entropy_gap)]


@hookimpl
def gan_networks() -> list[Network]:
    return [
        Network("aae.encoder", Encoder, AAEParams),
        Network("aae.decoder", Decoder, AAEParams),
        Network("aae.discriminator", Discriminator, AAEParams),
        Network("aae.cluster_encoder", ClusterEncoder, ClusterParams),
        Network("aae.cluster_decoder", ClusterDecoder, ClusterParams),
        Network("aae.code_discriminator", CodeDiscriminator, CodeDiscriminatorParams),
    ]
