"""Component declarations: what a plugin hands to the registry.

Each declaration couples a ``type`` name (what a spec writes) with a factory and a
pydantic model of the factory's parameters. The parameter model is validated when the
spec is loaded, so a misspelt parameter fails before any tensor exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Base class for component parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """For components that take no parameters."""


class _NodeRefMarker:
    """Marks a parameter whose value names a graph node (resolved to a tensor)."""


NodeRef = Annotated[str, _NodeRefMarker()]
"""A string parameter that names a node of the graph; the engine passes the tensor."""


def node_ref_fields(model: type[BaseModel]) -> list[str]:
    """Names of the fields of ``model`` declared as :data:`NodeRef`."""
    return [
        name
        for name, f in model.model_fields.items()
        if any(isinstance(m, _NodeRefMarker) for m in f.metadata)
    ]


@dataclass(frozen=True)
class BuildContext:
    """What a factory may need to know about the data (shapes are known before loading)."""

    image_shape: tuple[int, int, int]
    num_classes: int


@dataclass(frozen=True)
class Component:
    """A named, parameterised factory. Subclasses say what kind of thing it builds."""

    name: str
    factory: Callable[..., Any]
    params: type[Params] = NoParams
    doc: str = ""
    kind: ClassVar[str] = "component"

    @property
    def summary(self) -> str:
        text = self.doc or (getattr(self.factory, "__doc__", None) or "")
        return text.strip().splitlines()[0] if text.strip() else ""


@dataclass(frozen=True)
class Network(Component):
    """``factory(params, ctx: BuildContext) -> torch.nn.Module``."""

    kind: ClassVar[str] = "network"


@dataclass(frozen=True)
class Sampler(Component):
    """``factory(params, ctx) -> draw``, ``draw(batch, generator, device) -> Tensor``.

    Samplers are the latent priors; every sampler node is drawn once per step from the
    engine's sampler generator, in the order the spec declares them.
    """

    kind: ClassVar[str] = "sampler"


class LossParams(Params):
    """Every loss reads ``input`` and optionally ``target`` (a constant or a node)."""

    input: NodeRef
    target: float | NodeRef | None = None


@dataclass(frozen=True)
class Loss(Component):
    """``factory(input, target, **params) -> scalar Tensor``: a pure function.

    ``target`` arrives as a tensor (a node) or a float (a constant). Parameters declared
    as :data:`NodeRef` in the params model arrive as tensors too. A loss never calls
    ``backward()``; the engine sums the weighted terms of a phase and does that.
    """

    params: type[Params] = LossParams
    kind: ClassVar[str] = "loss"


@dataclass(frozen=True)
class Op(Component):
    """A function usable in graph expressions, e.g. ``z = cat(zn, zc)``.

    ``factory(*args)`` receives tensors and numeric constants. ``random=True`` ops
    also receive ``generator=`` (the sampler stream). ``grad_leaf=True`` ops return a
    fresh tensor that requires grad (e.g. interpolates for a gradient penalty), so
    that losses can differentiate with respect to it.
    """

    random: bool = False
    grad_leaf: bool = False
    kind: ClassVar[str] = "op"


@dataclass(frozen=True)
class DataInfo:
    image_shape: tuple[int, int, int]
    num_classes: int


@dataclass(frozen=True)
class DataSource(Component):
    """``factory(spec: DataSpec, split: str) -> (images uint8 NCHW, labels int64)``.

    ``describe(spec) -> DataInfo`` returns shapes without loading the data, so that
    ``gan inspect`` and spec validation need no files. It is required: a default shape
    would let a source that forgot it build networks of the wrong size.
    """

    describe: Callable[..., DataInfo] = field(kw_only=True)
    kind: ClassVar[str] = "data source"


@dataclass(frozen=True)
class Optimizer(Component):
    """``factory(parameters, **params) -> torch.optim.Optimizer``."""

    kind: ClassVar[str] = "optimizer"


@dataclass(frozen=True)
class Metric(Component):
    """``factory(params, evaluation) -> {key: float}``, declared under ``[eval.metrics]``.

    ``evaluation`` is a :class:`gan.evaluation.evaluate.Evaluation`: graph nodes on real data
    of a split, nodes from fresh latent draws, labels and the data classifier. Parameters
    declared as :data:`NodeRef` are checked against the graph when the spec is resolved.
    """

    kind: ClassVar[str] = "metric"


Draw = Callable[[int, torch.Generator, torch.device], torch.Tensor]
"""What a sampler factory returns: ``draw(batch, generator, device) -> Tensor``."""
