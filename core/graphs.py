"""Whole-step CUDA graphs (``train.cuda_graph``): one training step — every phase's
sampling, forward, backward and optimizer step — captured once and replayed.

The small models here are launch-bound on a GPU: a step is hundreds of small kernels and
the GPU idles between their launches. A captured step is launched as one graph. The
batch is drawn on the host as always (the data order stays the run's own) and copied into
a static input; the latents are drawn inside the graph from the run's own generators,
registered with the graph so each replay advances them. The first steps of each pattern
of active phases run eagerly on a side stream (warm-up, as torch's documentation asks),
then the step is captured and replayed; every step is a real training step, so a graphed
run is the eager run and resumes exactly.

What cannot be captured is named (:func:`obstacle`, or the error the capture raised)
and the run stays eager. The choice and its reason are kept beside precision and compile
(:class:`gan.core.acceleration.Choice`).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from gan.core.acceleration import Choice
from gan.core.engine import Engine, StepResult

__all__ = ["GraphedSteps", "OneEngine", "Steps", "choose", "obstacle", "refusal"]

WARMUP = 3  # eager steps of a pattern before its capture (torch's examples use 3)
Batch = dict[str, torch.Tensor]


class Steps(Protocol):
    """What steps one or many engines: batches drawn apart from the step itself."""

    engines: list[Engine]

    def next_batches(self) -> list[Batch]: ...

    def step(self, batches: list[Batch] | None = None) -> list[StepResult]: ...


class OneEngine:
    """One engine as :class:`Steps`."""

    def __init__(self, engine: Engine) -> None:
        self.engines = [engine]

    def next_batches(self) -> list[Batch]:
        return [dict(self.engines[0].data.next())]

    def step(self, batches: list[Batch] | None = None) -> list[StepResult]:
        return [self.engines[0].step(batches[0] if batches else None)]


def obstacle(engines: list[Engine]) -> str | None:
    """What in these engines' step cannot be captured in a CUDA graph (None: nothing)."""
    base = engines[0]
    spec = base.model.spec
    if spec.train.on_nan == "skip":
        return 'train.on_nan = "skip" reads every phase\'s loss on the host'
    if base.scaler is not None:
        return "fp16 loss scaling decides on the host whether to step"
    if base.sync is not None:
        return "multi-process gradient averaging"
    if base.compiled.value == "compiled":
        return "train.compile (Inductor makes its own graphs)"
    if any(e.schedulers for e in engines):
        return "a learning-rate schedule changes the rate on the host between steps"
    for phase in base.model.phases:
        if phase.spec.fresh_batch:
            return f"phase '{phase.name}' draws a fresh batch in the middle of the step"
    for call in base.model.graph.order:
        op = base.model.ops.get(call.func)
        if op is not None and op.random and base.sampler_generator.device.type != "cuda":
            return f"op '{call.func}' draws from a generator off the GPU"
    data = base.data
    if data is None:
        return "an engine without data"
    return None


def refusal(setting: bool | str | None, device: torch.device) -> str | None:
    """The one-line message when ``train.cuda_graph = true`` cannot be honoured before
    looking at the model (None: it can be tried, or it was not asked for)."""
    if setting is True and device.type != "cuda":
        return (
            f"train.cuda_graph = true needs a CUDA GPU; this run is on the {device.type}, "
            f"so it trains eagerly (set train.cuda_graph = false to silence this)."
        )
    return None


def choose(setting: bool | str | None, engines: list[Engine]) -> Choice:
    """``graphed`` or ``eager`` for this run, with the reason (printed and kept)."""
    device = engines[0].device
    if setting is None or setting is False:
        return Choice("eager", "train.cuda_graph = false")
    if device.type != "cuda":
        return Choice("eager", f"CUDA graphs need a GPU; this run is on the {device.type}")
    blocked = obstacle(engines)
    if blocked is not None:
        return Choice("eager", f"the step cannot be captured: {blocked}")
    why = "train.cuda_graph = true" if setting is True else "a GPU step is launch-bound"
    return Choice("graphed", why)


class GraphedSteps:
    """Wraps a :class:`Steps`: warm-up, capture and replay per pattern of active
    phases; eager for good once a capture fails (``failure`` says why)."""

    def __init__(self, inner: Steps, notice: Any = print) -> None:
        self.inner = inner
        self.engines = inner.engines
        self.notice = notice
        self.failure: str | None = None
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, list[Batch], list[StepResult]]] = {}
        self.seen: dict[tuple, int] = {}
        self.stream = torch.cuda.Stream(self.engines[0].device)
        self._capturable()

    def _capturable(self) -> None:
        """Optimizers that keep their step counters on the device (``capturable``)."""
        device = self.engines[0].device
        for opt in self._optimizers():
            for group in opt.param_groups:
                if "capturable" in group:
                    group["capturable"] = True
            for state in opt.state.values():
                if isinstance(state.get("step"), torch.Tensor):
                    state["step"] = state["step"].to(device)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        own = getattr(self.inner, "optimizers", None)
        if isinstance(own, dict):
            return list(own.values())
        return [o for e in self.engines for o in e.optimizers.values()]

    def _key(self) -> tuple:
        base = self.engines[0]
        return tuple(ex.phase.index for ex in base.plan())

    def step(self) -> list[StepResult]:
        batches = self.inner.next_batches()
        if self.failure is not None:
            return self.inner.step(batches)
        key = self._key()
        if key in self.graphs:
            return self._replay(key, batches)
        if self.seen.get(key, 0) < WARMUP:
            self.seen[key] = self.seen.get(key, 0) + 1
            return self._on_side_stream(batches)
        try:
            self._capture(key, batches)
        except Exception as exc:  # what the capture refused: named, and the run stays eager
            text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            self.failure = f"{type(exc).__name__}: {text}"
            self.notice(f"CUDA graph capture failed ({self.failure}); training eagerly.")
            torch.cuda.synchronize()
            return self.inner.step(batches)
        return self._replay(key, batches)

    def _on_side_stream(self, batches: list[Batch]) -> list[StepResult]:
        current = torch.cuda.current_stream()
        self.stream.wait_stream(current)
        with torch.cuda.stream(self.stream):
            out = self.inner.step(batches)
        current.wait_stream(self.stream)
        return out

    def _capture(self, key: tuple, batches: list[Batch]) -> None:
        statics = [{k: v.clone() for k, v in b.items()} for b in batches]
        counts = [(e.step_count, e._schedulers_started) for e in self.engines]
        graph = torch.cuda.CUDAGraph()
        for engine in self.engines:
            graph.register_generator_state(engine.sampler_generator)
        for opt in self._optimizers():
            opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        try:
            with torch.cuda.graph(graph, stream=self.stream):
                results = self.inner.step(statics)
        finally:
            # capture records kernels without running them: the host counters go back
            for engine, (count, started) in zip(self.engines, counts, strict=True):
                engine.step_count, engine._schedulers_started = count, started
        self.graphs[key] = (graph, statics, results)

    def _replay(self, key: tuple, batches: list[Batch]) -> list[StepResult]:
        graph, statics, results = self.graphs[key]
        with torch.no_grad():
            for static, batch in zip(statics, batches, strict=True):
                for name, value in batch.items():
                    static[name].copy_(value, non_blocking=True)
        graph.replay()
        for engine in self.engines:
            engine.step_count += 1
            engine._schedulers_started = True
        # the graph's outputs are overwritten by the next replay: hand out copies
        return [StepResult({k: v.clone() for k, v in r.losses.items()}) for r in results]
