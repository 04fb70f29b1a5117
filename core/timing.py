"""Opt-in timing of the sections of a training step (``gan bench``).

The engine takes an optional :class:`StepTimer` (``Engine.timer``, ``None`` by default).
When it is set, each phase's :class:`~gan.core.phase.PhaseStep` and the engine's source
draws call :meth:`StepTimer.lap` at the boundaries of a step's sections — drawing data
and latents, the forward pass (graph nodes and loss terms), ``backward()`` and the
optimizer (``zero_grad`` + ``step``) — and the timer adds the time since the previous
lap to that section. When it is ``None`` a boundary costs one attribute test, so
training pays nothing for the feature.

On CUDA the timer synchronises the device at every lap (kernels run asynchronously);
that slows the step a little, which is why timing is opt-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SECTIONS = ("data", "forward", "backward", "optimizer")


class StepTimer:
    """Accumulates wall time per section of :meth:`Engine.step` (see module docstring)."""

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.totals: dict[str, float] = dict.fromkeys(SECTIONS, 0.0)
        self._sync = sync
        self._last = 0.0

    def _now(self) -> float:
        if self._sync is not None:
            self._sync()
        return time.perf_counter()

    def start(self) -> None:
        """Begin a step: time from here on is attributed by the next lap."""
        self._last = self._now()

    def lap(self, section: str) -> None:
        """Attribute the time since the previous start/lap to ``section``."""
        now = self._now()
        self.totals[section] += now - self._last
        self._last = now
