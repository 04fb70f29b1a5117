"""The public plugin API: everything a plugin author imports, from one place.

A plugin is a module with ``@hookimpl`` functions (:mod:`gan.core.hooks`,
:mod:`gan.core.events` and :mod:`gan.training.events` list the hooks) that return
component declarations or react to a training run's events::

    from gan.api import BuildContext, Network, Params, hookimpl

    class GeneratorParams(Params):
        latent_dim: int = 64

    def generator(p: GeneratorParams, ctx: BuildContext) -> torch.nn.Module: ...

    @hookimpl
    def gan_networks():
        return [Network("my.generator", generator, GeneratorParams)]

Names here are stable; the modules they come from are not. The fidelity-test helpers are
in :mod:`gan.testing`.
"""

from __future__ import annotations

from gan.core.components import (
    BuildContext,
    Component,
    DataContext,
    DataSource,
    Draw,
    Loss,
    LossParams,
    Metric,
    Network,
    NodeRef,
    NoParams,
    Op,
    Optimizer,
    OptimizerContext,
    Params,
    Sampler,
)
from gan.core.engine import Engine
from gan.core.errors import (
    CheckpointError,
    DataError,
    GanError,
    PluginError,
    SpecError,
    TrainingError,
)
from gan.core.events import GanEngineSpecs
from gan.core.hooks import GanHookSpecs, hookimpl
from gan.core.networks import KEEPS_INIT
from gan.core.registry import Registry, default_registry
from gan.core.resolve import resolve
from gan.core.spec import Spec, load_spec
from gan.evaluation.evaluate import Evaluation
from gan.training.events import GanEventSpecs
from gan.training.trainer import Trainer

__all__ = [
    "KEEPS_INIT",
    "BuildContext",
    "CheckpointError",
    "Component",
    "DataContext",
    "DataError",
    "DataSource",
    "Draw",
    "Engine",
    "Evaluation",
    "GanEngineSpecs",
    "GanError",
    "GanEventSpecs",
    "GanHookSpecs",
    "Loss",
    "LossParams",
    "Metric",
    "Network",
    "NoParams",
    "NodeRef",
    "Op",
    "Optimizer",
    "OptimizerContext",
    "Params",
    "PluginError",
    "Registry",
    "Sampler",
    "Spec",
    "SpecError",
    "Trainer",
    "TrainingError",
    "default_registry",
    "hookimpl",
    "load_spec",
    "resolve",
]
