"""Where a training step's time goes: ``gan bench SPEC``.

The engine takes an optional :class:`StepTimer` (``Engine.timer``, ``None`` by default).
When it is set, :meth:`Engine.step` calls :meth:`StepTimer.lap` at the boundaries of
its sections — drawing data and latents, the forward pass (graph nodes and loss terms),
``backward()`` and the optimizer (``zero_grad`` + ``step``) — and the timer adds the
time since the previous lap to that section. When it is ``None`` the step only tests one
local variable per boundary, so training pays nothing for the feature.

On CUDA the timer synchronises the device at every lap (kernels run asynchronously);
that slows the step a little, which is why timing is opt-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

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


@dataclass
class BenchResult:
    """Timed steps of one spec: totals in seconds, per section and overall."""

    steps: int
    seconds: float
    sections: dict[str, float] = field(default_factory=dict)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    @property
    def other(self) -> float:
        """Time inside the step loop not in any section (planning, bookkeeping)."""
        return max(0.0, self.seconds - sum(self.sections.values()))

    def as_dict(self) -> dict:
        ms = {k: 1000 * v / self.steps for k, v in self.sections.items()}
        return {
            "steps": self.steps,
            "seconds": self.seconds,
            "steps_per_s": self.steps_per_s,
            "ms_per_step": {**ms, "other": 1000 * self.other / self.steps},
        }


def make_engine(
    spec,
    device: torch.device | None = None,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    """An engine on the spec's training data, built as ``gan run`` builds it; ``data``
    (images, labels from :func:`gan.core.trainer.load_data`) skips loading them again."""
    from gan.core.data import BatchSource
    from gan.core.engine import Engine, pick_device
    from gan.core.resolve import resolve
    from gan.core.trainer import load_data

    model = resolve(spec)
    device = device or pick_device(spec.train.device)
    images, labels = data if data is not None else load_data(model)
    t = spec.train
    data = BatchSource(images, labels, t.batch_size, t.seed, device)
    return Engine(model, device, data)


def time_steps(engine, steps: int, warmup: int = 3) -> BenchResult:
    """Run ``warmup`` untimed steps, then ``steps`` steps with a :class:`StepTimer`."""
    engine.train_mode(True)
    for _ in range(warmup):
        engine.step()
    sync = torch.cuda.synchronize if engine.device.type == "cuda" else None
    timer = StepTimer(sync)
    engine.timer = timer
    try:
        if sync is not None:
            sync()
        start = time.perf_counter()
        for _ in range(steps):
            engine.step()
        if sync is not None:
            sync()
        seconds = time.perf_counter() - start
    finally:
        engine.timer = None
    return BenchResult(steps, seconds, dict(timer.totals))


def render(name: str, result: BenchResult, device: torch.device) -> str:
    """A short table: steps/s, then ms per step and share of each section."""
    d = result.as_dict()
    lines = [
        f"{name}: {d['steps_per_s']:.2f} steps/s on {device} "
        f"({result.steps} steps in {result.seconds:.2f} s)",
        f"{'section':<10} {'ms/step':>9} {'share':>7}",
    ]
    for section, ms in d["ms_per_step"].items():
        share = 100 * ms / (1000 * result.seconds / result.steps)
        lines.append(f"{section:<10} {ms:>9.2f} {share:>6.1f}%")
    return "\n".join(lines)
