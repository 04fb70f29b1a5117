"""Building a spec's networks: each from its plugin's factory, refused before allocation
when it would exceed ``train.max_parameters``, then initialised as ``networks.X.init``
says and moved to the engine's device."""

from __future__ import annotations

import torch
from torch import nn

from gan.core.components import Network
from gan.core.errors import SpecError
from gan.core.resolve import ResolvedSpec


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_network(model: ResolvedSpec, name: str, device: torch.device) -> nn.Module:
    """Build one network; refuse absurd sizes before allocating (counted on 'meta')."""
    resolved = model.networks[name]
    comp: Network = resolved.component  # type: ignore[assignment]
    where = f"networks.{name} (type '{comp.name}')"
    limit = model.spec.train.max_parameters
    try:
        with torch.device("meta"):
            n = count_parameters(comp.factory(resolved.params, model.context))
    except Exception:
        n = None  # factories that cannot run on 'meta' are counted after building
    if n is not None and n > limit:
        raise SpecError(
            f"{where} would have {n:,} parameters, more than train.max_parameters = "
            f"{limit:,}. Check its sizes, or raise train.max_parameters if you mean it."
        )
    try:
        module = comp.factory(resolved.params, model.context)
    except Exception as exc:
        raise SpecError(f"{where} could not be built: {type(exc).__name__}: {exc}") from None
    if not isinstance(module, nn.Module):
        raise SpecError(f"{where}: its factory returned {type(module).__name__}, not a Module.")
    init = model.spec.networks[name].init
    if init is not None:
        initialise(module, init.type, init.std)
    return module.to(device)


KEEPS_INIT = "gan_keeps_init"
"""A layer with this attribute set true keeps the initialisation its plugin gave it (a
recipe's own choice for one layer, e.g. a logit layer that starts at zero)."""


def initialise(module: nn.Module, how: str, std: float) -> None:
    """``networks.X.init``: weights of every Linear/Conv layer from ``torch.nn.init``,
    biases zero, normalisation layers at scale 1 and shift 0 (but layers marked
    :data:`KEEPS_INIT`)."""
    for m in module.modules():
        if getattr(m, KEEPS_INIT, False):
            continue
        if isinstance(m, nn.Linear | nn.modules.conv._ConvNd):
            if how == "normal":
                nn.init.normal_(m.weight, 0.0, std)
            else:
                getattr(nn.init, f"{how}_")(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif (
            isinstance(m, nn.modules.batchnorm._NormBase | nn.LayerNorm | nn.GroupNorm)
            and getattr(m, "weight", None) is not None
        ):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
