"""Component declarations: what a plugin hands to the registry.

Each declaration couples a ``type`` name (what a spec writes) with a callable and a
pydantic model of its parameters. The parameter model is validated when the spec is
resolved, so a misspelt parameter fails before any tensor exists.

Two calling conventions, one per kind of callable:

* **factories** build something once, before training: ``factory(params, ctx)`` with
  the component's validated params and a context object of its kind: networks and
  samplers (:class:`BuildContext`), data sources (:class:`DataContext`), optimizers
  (:class:`OptimizerContext`), metrics (an ``Evaluation``);
* **functions** run inside every step on tensors: losses ``fn(input, target, **params)``
  and graph ops ``fn(*args)``. They stay pure functions of named tensors (as in TF-GAN)
  rather than factories of closures, so that a loss reads as its formula and holds no
  state to pickle or to forget in a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    """Base class for component parameters: unknown keys are errors, and numbers are
    finite as everywhere in a spec (a NaN slope or centre would surface mid-run as NaN
    losses); a plugin that means infinity says so in its own ``model_config``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    forwards: tuple[tuple[str, str], ...] = ()
    """``(parameter, node parameter)`` pairs: a parameter that is an option of the op
    producing that node rather than of the loss (e.g. ``gradient_penalty``'s
    ``epsilon`` is how ``interpolate`` draws the ``wrt`` points). When a spec sets it,
    resolving passes it to that op as a keyword, and refuses a producer that has no
    such keyword; the loss function itself never receives it."""
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
class DataContext:
    """What a data source's factory is asked for besides its parameters."""

    split: Literal["train", "test"]
    """The source's own split; ``val`` is carved out of "train" by the core."""


@dataclass(frozen=True)
class DataSource(Component):
    """``factory(params, ctx: DataContext) -> (images uint8 NCHW, labels int64)``.

    ``params`` is the source's own model (e.g. ``root``, ``download``, ``image_size``),
    filled from the spec's ``[data]`` table; the keys every source shares (``limit``,
    ``val``, ``range``, ``channels``) are applied by the core, not by the source.
    ``describe(params) -> BuildContext`` gives shapes and classes without loading the
    data, so that ``gan inspect`` and spec validation need no files. It is required: a
    default shape would let a source that forgot it build networks of the wrong size.
    """

    describe: Callable[..., BuildContext] = field(kw_only=True)
    kind: ClassVar[str] = "data source"


@dataclass(frozen=True)
class OptimizerContext:
    """What an optimizer's factory builds over: the phase's parameters (tensors, or one
    group per network where some networks have their own rate) and their device, which
    decides the fused/foreach implementation."""

    parameters: list[Any]
    device: torch.device


@dataclass(frozen=True)
class Optimizer(Component):
    """``factory(params, ctx: OptimizerContext) -> torch.optim.Optimizer``."""

    kind: ClassVar[str] = "optimizer"


@dataclass(frozen=True)
class Metric(Component):
    """``factory(params, evaluation) -> {key: float}``, declared under ``[eval.metrics]``.

    ``evaluation`` is a :class:`gan.evaluation.evaluate.Evaluation`: graph nodes on real data
    of a split, nodes from fresh latent draws, labels and the data classifier. Parameters
    declared as :data:`NodeRef` are checked against the graph when the spec is resolved.

    ``directions`` says which way each returned key is better — ``"max"`` (accuracy) or
    ``"min"`` (a distance, an error) — by key or glob (``"class_acc*"``); keys it leaves
    out (diagnostics such as a cluster count) have no better side. `gan compare` shows
    the direction and marks the best value by it.
    """

    directions: Mapping[str, Literal["max", "min"]] = field(default_factory=dict, kw_only=True)
    kind: ClassVar[str] = "metric"

    def direction(self, key: str) -> Literal["max", "min"] | None:
        """The better side of one returned key (``"acc"``), or ``None``."""
        import fnmatch

        if key in self.directions:
            return self.directions[key]
        for pattern, way in self.directions.items():
            if fnmatch.fnmatchcase(key, pattern):
                return way
        return None


Draw = Callable[[int, torch.Generator, torch.device], torch.Tensor]
"""What a sampler factory returns: ``draw(batch, generator, device) -> Tensor``."""
