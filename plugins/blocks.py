"""Generic networks any spec or plugin can use (no model-specific knowledge).

``mlp`` alone is enough to write many GANs as a spec with no Python: it concatenates its
inputs, runs a stack of fully-connected layers and returns one output or several heads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from gan.api import BuildContext, Network, Params, hookimpl

Activation = Literal["relu", "leaky_relu", "tanh", "elu", "gelu"]
OutputAct = Literal["none", "tanh", "sigmoid", "softmax"]
Size = int | Literal["image"]


def activation(name: str, negative_slope: float = 0.2) -> nn.Module:
    """A fresh activation module (never ``inplace``: an in-place activation after a
    layer whose output autograd saved is what breaks the PyTorch-GAN ClusterGAN script
    on torch 2)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}[name]()


def output_activation(name: str) -> nn.Module:
    return {
        "none": nn.Identity(),
        "tanh": nn.Tanh(),
        "sigmoid": nn.Sigmoid(),
        "softmax": nn.Softmax(dim=-1),
    }[name]


class BatchNormParams(Params):
    """BatchNorm options shared by every network that builds BatchNorm layers.

    ``batchnorm_momentum`` has PyTorch's meaning: ``running = (1 − m)·running + m·batch``.
    TensorFlow's ``decay`` d is the other weight: m = 1 − d (tf.contrib.layers.batch_norm's
    default decay 0.999 is m = 0.001). ``None``: a cumulative average of every batch seen
    (BiGAN's official running statistics)."""

    batchnorm_eps: float = Field(1e-5, gt=0, description="Added to the variance (TF: 1e-3).")
    batchnorm_momentum: float | Literal["none"] | None = Field(
        0.1,
        gt=0,
        le=1,
        description="Running-statistics weight of the new batch (PyTorch meaning; TF decay "
        "d ↔ 1 − d); 'none' = a cumulative average.",
    )

    @field_validator("batchnorm_momentum", mode="before")
    @classmethod
    def _none_spelled(cls, value: object) -> object:
        """TOML has no null: a spec writes ``batchnorm_momentum = "none"``."""
        return None if isinstance(value, str) and value.lower() == "none" else value

    batchnorm_affine: bool | Literal["shift"] = Field(
        True,
        description="Learned per-feature scale γ and shift β after normalising: true (PyTorch's "
        "default), false (neither: BiGAN's official code), or 'shift' (β only: "
        "tf.contrib.layers.batch_norm's default scale=False).",
    )


def batch_norm(
    features: int,
    dims: int = 1,
    eps: float = 1e-5,
    momentum: float | None = 0.1,
    affine: bool | str = True,
) -> nn.Module:
    """``BatchNorm{dims}d`` with the options of :class:`BatchNormParams`. ``affine =
    "shift"`` keeps the bias β and drops the scale γ (its ``weight`` is None, which
    ``F.batch_norm`` reads as a scale of 1)."""
    cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims]
    bn = cls(features, eps=eps, momentum=momentum, affine=bool(affine))
    if affine == "shift":
        bn.register_parameter("weight", None)
    return bn


def batch_norm_of(features: int, p: BatchNormParams, dims: int = 1) -> nn.Module:
    """:func:`batch_norm` with a network's own options."""
    momentum = None if p.batchnorm_momentum == "none" else p.batchnorm_momentum
    return batch_norm(features, dims, p.batchnorm_eps, momentum, p.batchnorm_affine)


LastInit = Literal["same", "xavier_uniform", "xavier_normal"]

Init = Literal["pytorch", "normal"]


def init_weights(module: nn.Module, how: Init, std: float) -> None:
    """``normal``: N(0, std) weights and zero biases for conv/linear layers, N(1, std)
    for batch-norm scales — the DCGAN initialisation used by the papers' code."""
    if how == "pytorch":
        return
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            if m.weight is not None:  # batchnorm_affine = false / "shift": no scale
                nn.init.normal_(m.weight, 1.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_last(layers: Sequence[nn.Module], how: LastInit) -> None:
    """``last_init``: the output layer(s) initialised on their own, e.g. Glorot-uniform
    weights and zero biases — tf.contrib.layers.fully_connected's default initialiser,
    which ClusterGAN's official critic and encoder keep for their last layer while
    every other layer is drawn from N(0, 0.02)."""
    if how == "same":
        return
    for layer in layers:
        weight = getattr(layer, "weight", None)
        if weight is not None:
            getattr(nn.init, f"{how}_")(weight)
        bias = getattr(layer, "bias", None)
        if isinstance(bias, torch.Tensor):
            nn.init.zeros_(bias)


class MLPParams(BatchNormParams):
    in_features: Size = Field(description="Input width after flattening, or 'image'.")
    hidden: list[int] = Field(default_factory=lambda: [512, 512])
    out_features: Size = Field(1, description="Output width, or 'image' (reshaped).")
    heads: list[Size] | None = Field(None, description="Several outputs (a tuple) instead.")
    activation: Activation = "leaky_relu"
    negative_slope: float = 0.2
    batchnorm: bool = False
    batchnorm_first: bool = Field(False, description="Also normalise the first hidden layer.")
    dropout: float = Field(0.0, ge=0, lt=1)
    output: OutputAct = "none"
    last_init: LastInit = Field("same", description="Initialisation of the output layer(s).")


class MLP(nn.Module):
    """Concatenate the (flattened) inputs, then Linear → [BN] → act → [dropout] layers."""

    def __init__(self, p: MLPParams, ctx: BuildContext) -> None:
        super().__init__()
        self.image_shape = ctx.image_shape

        def width(size: Size) -> int:
            return math.prod(ctx.image_shape) if size == "image" else int(size)

        for h in p.hidden:
            if h < 1 or h > 10_000_000:
                raise ValueError(f"hidden width {h} is out of range")
        layers: list[nn.Module] = []
        prev = width(p.in_features)
        for i, h in enumerate(p.hidden):
            layers.append(nn.Linear(prev, h))
            if p.batchnorm and (i > 0 or p.batchnorm_first):
                layers.append(batch_norm_of(h, p))
            layers.append(activation(p.activation, p.negative_slope))
            if p.dropout:
                layers.append(nn.Dropout(p.dropout))
            prev = h
        self.body = nn.Sequential(*layers)
        self.sizes = list(p.heads) if p.heads is not None else [p.out_features]
        self.heads = nn.ModuleList(nn.Linear(prev, width(s)) for s in self.sizes)
        init_last(list(self.heads), p.last_init)
        self.out_act = output_activation(p.output)
        self.multi = p.heads is not None

    def forward(self, *inputs: torch.Tensor):
        h = self.body(torch.cat([t.flatten(1) for t in inputs], dim=1))
        outs = []
        for size, head in zip(self.sizes, self.heads, strict=True):
            o = head(h)
            if size == "image":
                o = self.out_act(o).view(o.shape[0], *self.image_shape)
            elif not self.multi:
                o = self.out_act(o)
            outs.append(o)
        return tuple(outs) if self.multi else outs[0]


@hookimpl
def gan_networks():
    return [Network("mlp", MLP, MLPParams)]
