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
* **event hooks** are called while an engine draws data or a trainer runs, with keyword
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

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
import torch

if TYPE_CHECKING:  # types only: the kernel imports nothing from the layers above it
    from gan.core.components import (
        DataSource,
        Loss,
        Metric,
        Network,
        Op,
        Optimizer,
        Sampler,
    )
    from gan.core.engine import Engine
    from gan.training.trainer import Trainer

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


class GanEventSpecs:
    """The event hooks: called with keyword arguments, their return values ignored."""

    @hookspec
    def gan_sources_drawn(self, engine: Engine, values: dict[str, torch.Tensor]) -> None:
        """An engine drew its sources: the data batch (``x``, ``y``) and every sampler.

        ``values`` may be changed in place (the step uses it). Called once per step, again
        for each phase execution with ``fresh_batch = true``, and for the draws of
        evaluation, sampling and ``gan inspect`` (from generators of their own)."""

    @hookspec
    def gan_train_start(self, trainer: Trainer) -> None:
        """A run starts (fresh or resumed; ``trainer.engine.step_count`` says where).

        The place to attach per-run callback objects: ``trainer.add_callback(obj)``
        registers an object whose methods are hookimpls for the rest of the run."""

    @hookspec
    def gan_step_end(self, trainer: Trainer, step: int, losses: dict[str, torch.Tensor]) -> None:
        """A training step ended; ``step`` steps are done. ``losses`` are the step's loss
        terms (``"phase/term"``), still on the device: reading them syncs the host."""

    @hookspec
    def gan_log(
        self, trainer: Trainer, step: int, losses: dict[str, float], steps_per_s: float
    ) -> None:
        """A log step (every ``train.log_every`` and the last): the loss terms averaged
        over the steps since the previous log step, and the speed over them."""

    @hookspec
    def gan_samples_saved(self, trainer: Trainer, step: int, path: Path, grid: Any) -> None:
        """The ``[sample]`` grid was written to ``path`` (``grid``: a
        :class:`gan.evaluation.sampling.Grid`)."""

    @hookspec
    def gan_eval_end(
        self, trainer: Trainer, step: int, split: str, results: dict[str, float]
    ) -> None:
        """``[eval] every``: the metrics of the engine at ``step`` on ``split``."""

    @hookspec
    def gan_checkpoint_saved(self, trainer: Trainer, step: int, path: Path) -> None:
        """A checkpoint was written (rank 0 only): a step checkpoint or best.safetensors."""

    @hookspec
    def gan_train_end(self, trainer: Trainer, step: int) -> None:
        """The run stops: the last step, the wall-clock budget, a signal — or an error.
        Close what the run opened here."""
