"""Where a training step's time goes: ``gan bench SPEC``.

Runs steps of a spec's engine with a :class:`~gan.core.timing.StepTimer` attached and
reports steps/s and the time per section (data, forward, backward, optimizer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from gan.core.acceleration import Choice, graphs_compiled
from gan.core.build import build_engine
from gan.core.timing import SECTIONS, StepTimer

__all__ = ["SECTIONS", "BenchResult", "StepTimer", "make_engine", "render", "time_steps"]


FP32 = Choice("fp32", "set in the spec")
EAGER = Choice("eager", "set in the spec")


@dataclass
class BenchResult:
    """Timed steps of one spec: totals in seconds, per section and overall."""

    steps: int
    seconds: float
    sections: dict[str, float] = field(default_factory=dict)
    warmup_seconds: float = 0.0  # the untimed first steps: compilation happens there
    graphs_warmup: int = 0  # graphs TorchDynamo compiled during the warm-up steps
    graphs_timed: int = 0  # ... and during the timed steps (recompiles: should be 0)
    precision: Choice = FP32  # the engine's choices, as it made them
    compiled: Choice = EAGER

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
            "warmup_seconds": self.warmup_seconds,
            "graphs_compiled": {"warmup": self.graphs_warmup, "timed": self.graphs_timed},
            "precision": vars(self.precision),
            "compile": vars(self.compiled),
        }


def make_engine(
    spec,
    device: torch.device | None = None,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    """An engine on the spec's training data, built as ``gan run`` builds it; ``data``
    (images, labels from :func:`gan.core.data.load_data`) skips loading them again."""
    return build_engine(spec, device, data)


def time_steps(engine, steps: int, warmup: int = 3) -> BenchResult:
    """Run ``warmup`` untimed steps, then ``steps`` steps with a :class:`StepTimer`.

    A compiled engine compiles during the warm-up steps: their time is reported apart
    (``warmup_seconds``), and so are the graphs compiled before and during the timed
    steps, where a recompile would show as a count above zero."""
    engine.train_mode(True)
    sync = torch.cuda.synchronize if engine.device.type == "cuda" else None
    compiled = engine.compiled.value == "compiled"
    # Dynamo's counter (and its import) only where something is compiled
    graphs = graphs_compiled if compiled else lambda: 0
    graphs0 = graphs()
    warm_start = time.perf_counter()
    for _ in range(warmup):
        engine.step()
    if sync is not None:
        sync()
    warmup_seconds = time.perf_counter() - warm_start
    graphs1 = graphs()
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
    return BenchResult(
        steps,
        seconds,
        dict(timer.totals),
        warmup_seconds=warmup_seconds,
        graphs_warmup=graphs1 - graphs0,
        graphs_timed=graphs() - graphs1,
        precision=engine.precision,
        compiled=engine.compiled,
    )


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
    for label, choice in (("precision", result.precision), ("compile", result.compiled)):
        lines.append(f"{label:<10} {choice.value} ({choice.reason})")
    if result.compiled.value == "compiled":
        lines.append(
            f"warm-up    {result.warmup_seconds:.1f} s (compiling {result.graphs_warmup} "
            f"graphs); recompiles during the timed steps: {result.graphs_timed}"
        )
    return "\n".join(lines)
