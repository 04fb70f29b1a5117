"""Generic networks any spec or plugin can use (no model-specific knowledge).

``mlp`` alone is enough to write many GANs as a spec with no Python: it concatenates its
inputs, runs a stack of fully-connected layers and returns one output or several heads.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
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


class MLPParams(Params):
    in_features: Size = Field(description="Input width after flattening, or 'image'.")
    hidden: list[int] = Field(default_factory=lambda: [512, 512])
    out_features: Size = Field(1, description="Output width, or 'image' (reshaped).")
    heads: list[Size] | None = Field(None, description="Several outputs (a tuple) instead.")
    activation: Activation = "leaky_relu"
    negative_slope: float = 0.2
    batchnorm: bool = False
    batchnorm_first: bool = Field(False, description="Also normalise the first hidden layer.")
    batchnorm_eps: float = Field(1e-5, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    output: OutputAct = "none"


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
                layers.append(nn.BatchNorm1d(h, eps=p.batchnorm_eps))
            layers.append(activation(p.activation, p.negative_slope))
            if p.dropout:
                layers.append(nn.Dropout(p.dropout))
            prev = h
        self.body = nn.Sequential(*layers)
        self.sizes = list(p.heads) if p.heads is not None else [p.out_features]
        self.heads = nn.ModuleList(nn.Linear(prev, width(s)) for s in self.sizes)
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
