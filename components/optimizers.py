"""Built-in optimizers: ``adam``, ``adamw``, ``sgd``, ``rmsprop`` (torch.optim).

A plugin like any other: it registers through the ``gan_optimizers`` hook.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field

from gan.core.components import Optimizer, OptimizerContext, Params
from gan.core.hooks import hookimpl

Beta = Annotated[float, Field(ge=0.0, lt=1.0)]


class AdamParams(Params):
    lr: float = Field(2e-4, gt=0)
    betas: tuple[Beta, Beta] = (0.5, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    amsgrad: bool = False
    implementation: Literal["auto", "foreach", "fused", "for-loop"] = Field(
        "auto", description="auto = torch's fused kernel on CPU/CUDA (measured fastest)."
    )


class SGDParams(Params):
    lr: float = Field(1e-2, gt=0)
    momentum: float = Field(0.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    nesterov: bool = False
    implementation: Literal["auto", "foreach", "for-loop"] = "auto"


class RMSpropParams(Params):
    lr: float = Field(5e-5, gt=0)
    alpha: float = Field(0.99, gt=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    momentum: float = Field(0.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    implementation: Literal["auto", "foreach", "for-loop"] = "auto"


FUSED_DEVICES = ("cpu", "cuda")


def _fusable(ctx: OptimizerContext) -> bool:
    """Fused kernels need plain floating-point tensors on a CPU or CUDA device.
    ``ctx.parameters`` holds tensors or parameter groups (dicts with ``params``)."""
    if ctx.device.type not in FUSED_DEVICES:
        return False
    tensors = [t for p in ctx.parameters for t in (p["params"] if isinstance(p, dict) else [p])]
    return all(
        isinstance(p, torch.Tensor)
        and p.dtype.is_floating_point
        and p.device.type == ctx.device.type
        for p in tensors
    )


def _impl(params: dict, ctx: OptimizerContext, fused_auto: bool) -> dict:
    """torch's flags for ``implementation``. ``auto`` picks the fused kernel where the
    optimizer has one that was measured faster (Adam/AdamW: on a 2-core CPU the step of
    specs/cgan.toml's optimizers fell from 8.8 to 2.3 ms, see bench/results/speed.md);
    otherwise torch's own default."""
    impl = params.pop("implementation", "auto")
    if impl == "foreach":
        params["foreach"] = True
    elif impl == "fused" or (impl == "auto" and fused_auto and _fusable(ctx)):
        params["fused"] = True
    elif impl == "for-loop":
        params["foreach"] = False
    return params


def _optimizer(cls, fused_auto: bool = False):
    def build(params: Params, ctx: OptimizerContext) -> torch.optim.Optimizer:
        return cls(ctx.parameters, **_impl(params.model_dump(), ctx, fused_auto))

    build.__doc__ = f"torch.optim.{cls.__name__}"
    return build


@hookimpl
def gan_optimizers():
    return [
        Optimizer("adam", _optimizer(torch.optim.Adam, fused_auto=True), AdamParams),
        Optimizer("adamw", _optimizer(torch.optim.AdamW, fused_auto=True), AdamParams),
        Optimizer("sgd", _optimizer(torch.optim.SGD), SGDParams),
        Optimizer("rmsprop", _optimizer(torch.optim.RMSprop), RMSpropParams),
    ]
