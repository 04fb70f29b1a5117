"""The trainer's event hook specifications.

They live with the trainer, not in the kernel (:mod:`gan.core.hooks` holds the component
hooks and the engine's ``gan_sources_drawn``): the kernel imports nothing from the layers
above it, not even for types. The package's composition root (``gan/__init__.py``) hands
this class to the registry, which adds it with pluggy's ``add_hookspecs``. The events
happen on every process of a multi-process run; ``trainer.dist.is_main`` tells rank 0.
Plugins implement them with :data:`gan.api.hookimpl`; see :mod:`gan.core.hooks`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan.core.hooks import hookspec

if TYPE_CHECKING:
    import torch

    from gan.training.trainer import Trainer


class GanEventSpecs:
    """The trainer's event hooks: called with keyword arguments, their return values ignored."""

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
