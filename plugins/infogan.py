"""InfoGAN — Interpretable Representation Learning by Information Maximizing GANs
(Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel, NeurIPS 2016).

G(z, c) takes 62-d noise z and a latent code c = (one 10-way categorical code, two
U(−1, 1) continuous codes). An auxiliary network Q, sharing all of D's body, predicts
c from G(z, c); maximising the variational lower bound of I(c; G(z, c)) is a
cross-entropy on the categorical code plus (for a fixed-variance Gaussian Q) a squared
error on the continuous codes.

The networks are the paper's MNIST architecture (appendix C.1, Table 1), built from
:mod:`gan.plugins.conv`; the leaky rate (the paper's 0.1 by default; the official code's
0.01 in ``specs/infogan.toml``) and G's output (tanh by default; the official sigmoid on
[0, 1] data in the spec) are the spec's:

* D: conv64 4×4 s2-LReLU → conv128 4×4 s2-BN-LReLU → FC1024-BN-LReLU → FC1 (a logit);
* Q: on D's FC1024 features, FC128-BN-LReLU → FC(10 + 2): categorical logits and
  continuous-code means;
* G: FC1024-BN-ReLU → FC(7·7·128)-BN-ReLU → deconv64 4×4 s2-BN-ReLU → deconv1 4×4 s2-output.

Deliberate differences from the seed (the PyTorch-GAN script): its fully-connected
networks are replaced by the paper's conv nets; its ``BatchNorm1d(n, 0.8)`` set eps=0.8
(the second positional argument is eps, not momentum) — here eps is PyTorch's 1e-5;
D returns a logit instead of a Sigmoid output (fused into ``bce_logits``); and the
categorical head returns logits, never a softmax: applying a softmax before
``CrossEntropyLoss`` (as the full PyTorch-GAN script does) squashes the gradient.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from gan.api import BuildContext, Network, hookimpl
from gan.plugins.blocks import activation, batch_norm_of, init_last, init_weights
from gan.plugins.conv import (
    ConvDiscriminator,
    ConvDiscriminatorParams,
    ConvGenerator,
    ConvGeneratorParams,
)


class GeneratorParams(ConvGeneratorParams):
    """Input = cat(z, one_hot(c_cat), c_cont): 62 + 10 + 2 wide by default."""

    in_features: int = Field(74, ge=1, le=1_000_000, description="dim(z) + classes + codes.")


class DiscriminatorParams(ConvDiscriminatorParams):
    batchnorm: bool = Field(True, description="BatchNorm after each hidden layer but the first.")
    negative_slope: float = 0.1  # the paper's leaky rate
    classes: int = Field(10, ge=1, le=1_000_000, description="Categorical code size.")
    continuous: int = Field(2, ge=0, le=1_000_000, description="Continuous code count.")
    q_hidden: int = Field(128, ge=1, le=1_000_000, description="Width of Q's hidden layer.")


class Discriminator(ConvDiscriminator):
    """D and Q with a shared body: ``x → (d_logit, cat_logits, cont_mean)``.

    Q is one extra branch on D's features (the paper: "Q shares all convolutional
    layers with D, and there is one final fully connected layer to output parameters
    for the conditional distribution"; its MNIST table adds FC128-BN-LReLU).
    """

    def __init__(self, p: DiscriminatorParams, ctx: BuildContext) -> None:
        base = p.model_dump(exclude={"classes", "continuous", "q_hidden", "heads"})
        super().__init__(ConvDiscriminatorParams(**base), ctx)
        self.classes = p.classes
        q_layers: list[nn.Module] = [nn.Linear(self.feature_width, p.q_hidden)]
        if p.batchnorm:
            q_layers.append(batch_norm_of(p.q_hidden, p))
        q_layers += [
            activation(p.activation, p.negative_slope),
            nn.Linear(p.q_hidden, p.classes + p.continuous),
        ]
        self.q = nn.Sequential(*q_layers)
        init_weights(self.q, p.init, p.init_std)
        init_last([self.q[-1]], p.last_init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.features(x)
        q = self.q(h)
        return self.heads[0](h), q[:, : self.classes], q[:, self.classes :]


def generator(p: GeneratorParams, ctx: BuildContext) -> ConvGenerator:
    """The paper's MNIST generator (FC1024, FC 7·7·128, deconv64, deconv1; tanh)."""
    return ConvGenerator(p, ctx)


@hookimpl
def gan_networks() -> list[Network]:
    return [
        Network("infogan.generator", generator, GeneratorParams),
        Network("infogan.discriminator", Discriminator, DiscriminatorParams),
    ]
