"""Plugin hook specifications.

A plugin is any module (or object) with functions marked ``@hookimpl`` whose names match
the specs below; the registry runs pluggy's ``check_pending()``, so a function marked
``@hookimpl`` under any other name is reported as a plugin failure (``gan plugins``),
with a "did you mean". Built-in models, components and the trainer's own logging,
sampling, evaluation and checkpointing register exactly like third-party plugins; the
latter are found through the ``gan.plugins`` entry-point group, as pytest finds
``pytest11`` plugins. Plugin authors import what they need from :mod:`gan.api`.

Two kinds of hooks:

* **component hooks** take no arguments and return a list of declarations
  (:mod:`gan.core.components`), collected once when the registry loads;
* **event hooks** are called while an engine draws data
  (:class:`gan.core.events.GanEngineSpecs`) or a trainer runs
  (:class:`gan.training.events.GanEventSpecs`), with keyword
  arguments (a hookimpl may take any subset of them, as in pytest). The trainer's events
  happen on every process of a multi-process run; ``trainer.dist.is_main`` tells rank 0.

Example::

    from gan.api import Network, hookimpl

    @hookimpl
    def gan_networks():
        return [Network("my.generator", MyGenerator, MyGeneratorParams)]

    @hookimpl
    def gan_log(trainer, step, losses):
        print(step, losses)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from gan.core.components import (
        DataSource,
        Loss,
        Metric,
        Network,
        Op,
        Optimizer,
        Sampler,
    )

PROJECT = "gan"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class GanHookSpecs:
    """The component hooks: each returns a list of declarations."""

    @hookspec
    def gan_networks(self) -> list[Network]:
        """Return :class:`~gan.core.components.Network` declarations."""
        raise NotImplementedError

    @hookspec
    def gan_samplers(self) -> list[Sampler]:
        """Return :class:`~gan.core.components.Sampler` declarations (latent priors)."""
        raise NotImplementedError

    @hookspec
    def gan_losses(self) -> list[Loss]:
        """Return :class:`~gan.core.components.Loss` declarations (pure tensor functions)."""
        raise NotImplementedError

    @hookspec
    def gan_ops(self) -> list[Op]:
        """Return :class:`~gan.core.components.Op` declarations usable in ``[graph]``."""
        raise NotImplementedError

    @hookspec
    def gan_data_sources(self) -> list[DataSource]:
        """Return :class:`~gan.core.components.DataSource` declarations."""
        raise NotImplementedError

    @hookspec
    def gan_optimizers(self) -> list[Optimizer]:
        """Return :class:`~gan.core.components.Optimizer` declarations."""
        raise NotImplementedError

    @hookspec
    def gan_metrics(self) -> list[Metric]:
        """Return :class:`~gan.core.components.Metric` declarations for ``[eval]``."""
        raise NotImplementedError
