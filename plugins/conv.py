"""Generic DCGAN-style convolutional networks (Radford et al., 2016) for any spec.

Most image GANs of the InfoGAN / ClusterGAN era share one shape on MNIST:

* generator: fully-connected layers → reshape to ``C₀ × s × s`` → stride-2 4×4
  transposed convolutions, each doubling the side, up to the image (tanh output);
* discriminator / encoder: stride-2 4×4 convolutions → fully-connected layers →
  one output (a logit) or several heads (a tuple, e.g. an encoder's ``(z_n, z_c)``).

Both live here once, parameterised; model plugins (``clustergan``, ``infogan``) only
fill in their paper's defaults or add a head. Networks return logits, never
probabilities: the engine's losses (``bce_logits``, ``cross_entropy``) expect them.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from gan.api import BuildContext, Network, hookimpl
from gan.plugins.blocks import (
    BatchNormParams,
    Init,
    LastInit,
    activation,
    batch_norm_of,
    init_last,
    init_weights,
)

Activation = Literal["relu", "leaky_relu", "tanh", "elu"]
OutputAct = Literal["none", "tanh", "sigmoid"]


def fc_stack(
    in_features: int, widths: list[int], p: ConvGeneratorParams | ConvDiscriminatorParams
) -> tuple[list[nn.Module], int]:
    """Linear → [BatchNorm1d] → activation for each width; returns the layers and the
    output width. Shared by the generator (before reshaping) and the discriminator."""
    layers: list[nn.Module] = []
    prev = in_features
    for width in widths:
        layers.append(nn.Linear(prev, width))
        if p.batchnorm:
            layers.append(batch_norm_of(width, p))
        layers.append(activation(p.activation, p.negative_slope))
        prev = width
    return layers, prev


class ConvGeneratorParams(BatchNormParams):
    in_features: int = Field(ge=1, le=1_000_000, description="Width of the concatenated inputs.")
    fc: list[int] = Field(
        default_factory=lambda: [1024], description="Fully-connected widths before reshaping."
    )
    channels: list[int] = Field(
        default_factory=lambda: [128, 64],
        min_length=1,
        description="Channels after the reshape, then after each upsampling but the last.",
    )
    batchnorm: bool = Field(True, description="BatchNorm after every hidden layer.")
    reshape_batchnorm: Literal["features", "channels"] = Field(
        "features",
        description="BatchNorm of the last fully-connected layer: per feature before the "
        "reshape (BatchNorm1d over C₀·s·s), or per channel after it (BatchNorm2d over C₀, "
        "as a TF batch_norm on the reshaped NHWC tensor: ClusterGAN's official G).",
    )
    activation: Activation = "relu"
    negative_slope: float = 0.2
    output: OutputAct = "tanh"
    init: Init = "normal"
    init_std: float = Field(0.02, gt=0)
    last_init: LastInit = Field("same", description="Initialisation of the last deconv.")


class ConvGenerator(nn.Module):
    """inputs → cat → [FC-BN-act]* → FC(C₀·s·s)-BN-act → [deconv4×4s2-BN-act]* →
    deconv4×4s2(image channels) → output activation.

    With ``channels = [128, 64]`` and a 28×28 image, ``s = 28 / 2² = 7``: the MNIST
    generator of InfoGAN (Chen et al., 2016, appendix C.1) and ClusterGAN (Mukherjee
    et al., 2019, appendix).
    """

    def __init__(self, p: ConvGeneratorParams, ctx: BuildContext) -> None:
        super().__init__()
        c_img, h, w = ctx.image_shape
        up = len(p.channels)
        if h % 2**up or w % 2**up:
            raise ValueError(
                f"image size {h}×{w} is not divisible by 2^{up} (one stride-2 upsampling per "
                f"entry of channels = {p.channels})"
            )
        self.start = (p.channels[0], h // 2**up, w // 2**up)

        def act() -> nn.Module:
            return activation(p.activation, p.negative_slope)

        per_channel = p.batchnorm and p.reshape_batchnorm == "channels"
        if per_channel:
            fc, prev = fc_stack(p.in_features, p.fc, p)
            fc.append(nn.Linear(prev, math.prod(self.start)))
            reshaped = [batch_norm_of(p.channels[0], p, dims=2), act()]
        else:
            fc, _ = fc_stack(p.in_features, [*p.fc, math.prod(self.start)], p)
            reshaped = []
        self.fc = nn.Sequential(*fc)
        # per-channel normalisation after the reshape (empty by default)
        self.reshaped = nn.Sequential(*reshaped)
        conv: list[nn.Module] = []
        outs = [*p.channels[1:], c_img]
        for i, (cin, cout) in enumerate(zip(p.channels, outs, strict=True)):
            last = i == len(outs) - 1
            conv.append(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1))
            if not last:
                if p.batchnorm:
                    conv.append(batch_norm_of(cout, p, dims=2))
                conv.append(act())
        conv.append({"none": nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[p.output]())
        self.conv = nn.Sequential(*conv)
        init_weights(self, p.init, p.init_std)
        deconvs = [m for m in conv if isinstance(m, nn.ConvTranspose2d)]
        init_last(deconvs[-1:], p.last_init)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        z = torch.cat([t.flatten(1) for t in inputs], dim=1)
        h = self.fc(z).view(z.shape[0], *self.start)
        return self.conv(self.reshaped(h))


class ConvDiscriminatorParams(BatchNormParams):
    in_channels: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Input channels when they differ from the images' (e.g. image + "
        "label maps in a conditional D); default: the data's channels.",
    )
    channels: list[int] = Field(
        default_factory=lambda: [64, 128], min_length=1, description="conv4×4 s2 widths."
    )
    fc: list[int] = Field(default_factory=lambda: [1024], description="FC widths after convs.")
    out_features: int = Field(1, ge=1, le=1_000_000, description="Width of the single output.")
    heads: list[int] | None = Field(None, description="Several linear outputs (a tuple).")
    batchnorm: bool = Field(False, description="BatchNorm after each hidden layer but the first.")
    activation: Activation = "leaky_relu"
    negative_slope: float = 0.2
    init: Init = "normal"
    init_std: float = Field(0.02, gt=0)
    last_init: LastInit = Field(
        "same",
        description="Initialisation of the output head(s): 'same' as the others, or Xavier "
        "(Glorot) with zero biases, as tf.contrib.layers.fully_connected's default.",
    )


class ConvDiscriminator(nn.Module):
    """x → [conv4×4s2-(BN)-act]* → flatten → [FC-(BN)-act]* → linear head(s).

    The first convolution is never normalised (DCGAN practice, kept by InfoGAN).
    A critic trained with a gradient penalty must not use BatchNorm (Gulrajani et
    al., 2017), hence ``batchnorm = false`` by default. :meth:`features` exposes the
    shared body so that a plugin can hang extra heads on it (InfoGAN's Q).
    """

    def __init__(self, p: ConvDiscriminatorParams, ctx: BuildContext) -> None:
        super().__init__()
        c, h, w = ctx.image_shape
        c = p.in_channels or c

        def act() -> nn.Module:
            return activation(p.activation, p.negative_slope)

        layers: list[nn.Module] = []
        for i, cout in enumerate(p.channels):
            layers.append(nn.Conv2d(c, cout, 4, stride=2, padding=1))
            if p.batchnorm and i > 0:
                layers.append(batch_norm_of(cout, p, dims=2))
            layers.append(act())
            c, h, w = cout, (h - 2) // 2 + 1, (w - 2) // 2 + 1
            if h < 1 or w < 1:
                raise ValueError(f"the image is too small for {len(p.channels)} stride-2 convs")
        layers.append(nn.Flatten())
        fc, prev = fc_stack(c * h * w, p.fc, p)
        layers += fc
        self.body = nn.Sequential(*layers)
        self.feature_width = prev
        self.multi = p.heads is not None
        sizes = list(p.heads) if p.heads is not None else [p.out_features]
        for s in sizes:
            if s < 1 or s > 1_000_000:
                raise ValueError(f"head width {s} is out of range")
        self.heads = nn.ModuleList(nn.Linear(prev, s) for s in sizes)
        init_weights(self, p.init, p.init_std)
        init_last(list(self.heads), p.last_init)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The shared body's output (before any head)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        h = self.features(x)
        outs = tuple(head(h) for head in self.heads)
        return outs if self.multi else outs[0]


@hookimpl
def gan_networks() -> list[Network]:
    return [
        Network("conv.generator", ConvGenerator, ConvGeneratorParams),
        Network("conv.discriminator", ConvDiscriminator, ConvDiscriminatorParams),
    ]
