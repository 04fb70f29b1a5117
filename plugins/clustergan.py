"""ClusterGAN — Latent Space Clustering in GANs (Mukherjee, Asnani, Lin & Kannan, AAAI 2019).

The latent code is a Gaussian part ``z_n`` concatenated with a one-hot ``z_c``; an
encoder ``E`` maps images back to ``(ẑ_n, ẑ_c logits)``, and ``G`` and ``E`` are trained
together (one optimizer) with the adversarial loss plus ``β_n·‖z_n − ẑ_n‖²`` and
``β_c·CE(ẑ_c, z_c)``. Clustering a real image = ``argmax`` of its encoded ``z_c``.

The networks are the paper's MNIST architectures (its appendix and the official code,
github.com/sudiptodip15/ClusterGAN), built from :mod:`gan.plugins.conv`:

* G: FC1024-BN-ReLU → FC(7·7·128)-BN-ReLU → deconv64 4×4 s2-BN-ReLU → deconv1 4×4 s2;
* D: conv64 4×4 s2-LReLU → conv128 4×4 s2-LReLU → FC1024-LReLU → FC1 (no BatchNorm:
  the critic is trained with a gradient penalty);
* E: the same body as D with two heads, ẑ_n (linear) and ẑ_c (logits).

What the official code fixes and the networks leave to the spec: G's output activation
(``specs/clustergan.toml`` ends in the official sigmoid on [0, 1] data; the defaults are
tanh on [-1, 1]), G's BatchNorm (the official shift-only, eps 1e-3, per channel after
the reshape) and the Xavier init of the last layers of D and E. E returns ẑ_c *logits*:
the loss applies the softmax inside the cross-entropy, as the official
``softmax_cross_entropy_with_logits``. Unlike the PyTorch-GAN port (the seed), no
activation is in-place and the engine drops the last partial batch, so neither of its
torch-2 crashes can happen.
"""

from __future__ import annotations

from pydantic import Field

from gan.api import BuildContext, Network, hookimpl
from gan.plugins.conv import (
    ConvDiscriminator,
    ConvDiscriminatorParams,
    ConvGenerator,
    ConvGeneratorParams,
)


class GeneratorParams(ConvGeneratorParams):
    """Input = cat(z_n, one_hot(z_c)): 30 + 10 wide by default."""

    in_features: int = Field(40, ge=1, le=1_000_000, description="dim(z_n) + classes.")


class EncoderParams(ConvDiscriminatorParams):
    latent_dim: int = Field(30, ge=1, le=1_000_000, description="dim(z_n).")
    classes: int = Field(10, ge=1, le=1_000_000, description="Number of clusters (z_c).")


def generator(p: GeneratorParams, ctx: BuildContext) -> ConvGenerator:
    """The paper's MNIST generator (FC1024, FC 7·7·128, deconv64, deconv1; the spec's
    output activation)."""
    return ConvGenerator(p, ctx)


def discriminator(p: ConvDiscriminatorParams, ctx: BuildContext) -> ConvDiscriminator:
    """The paper's MNIST critic (conv64, conv128, FC1024 → one score, no BatchNorm)."""
    return ConvDiscriminator(p, ctx)


def encoder(p: EncoderParams, ctx: BuildContext) -> ConvDiscriminator:
    """The paper's MNIST encoder: the critic's body with heads (ẑ_n, ẑ_c logits)."""
    body = p.model_dump(exclude={"latent_dim", "classes", "heads"})
    return ConvDiscriminator(ConvDiscriminatorParams(**body, heads=[p.latent_dim, p.classes]), ctx)


@hookimpl
def gan_networks() -> list[Network]:
    return [
        Network("clustergan.generator", generator, GeneratorParams),
        Network("clustergan.discriminator", discriminator, ConvDiscriminatorParams),
        Network("clustergan.encoder", encoder, EncoderParams),
    ]
