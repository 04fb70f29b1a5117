"""The engine's event hook specification: ``gan_sources_drawn``.

Apart from the component hooks (:mod:`gan.core.hooks`) because it names the engine for
its types, and the engine needs the registry: the package's composition root
(``gan/__init__.py``) hands this class to the registry with the trainer's events
(:mod:`gan.training.events`), so that no import circle runs through the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gan.core.hooks import hookspec

if TYPE_CHECKING:
    import torch

    from gan.core.engine import Engine


class GanEngineSpecs:
    """The engine's event hook: called with keyword arguments, its return value ignored."""

    @hookspec
    def gan_sources_drawn(self, engine: Engine, values: dict[str, torch.Tensor]) -> None:
        """An engine drew its sources: the data batch (``x``, ``y``) and every sampler.

        ``values`` may be changed in place (the step uses it). Called once per step, again
        for each phase execution with ``fresh_batch = true``, and for the draws of
        evaluation, sampling and ``gan inspect`` (from generators of their own)."""
