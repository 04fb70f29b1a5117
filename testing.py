"""Helpers for testing GAN plugins: the same fidelity-test tools the built-in models use.

The fidelity test of a model runs one engine step and one hand-written PyTorch step from
the same starting point (weights, data batch, latent samples, RNG state) and checks that
every parameter ends up the same. It catches a wrong detach, a missing ``zero_grad``,
a wrong optimizer group or a wrong loss weight::

    from gan.testing import tiny_engine, record_step, assert_same_parameters

    engine = tiny_engine("specs/mymodel.toml")
    rec = record_step(engine)              # runs engine.step(), remembering its inputs
    ref = rec.initial                      # deep copy of the networks before the step
    torch.set_rng_state(rec.rng_state)     # same dropout masks, in the same call order
    ...hand-written step on ref with rec.sources[0]...
    assert_same_parameters(engine.networks, ref)
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan.core.build import build_engine
from gan.core.engine import Engine
from gan.core.hooks import hookimpl
from gan.core.resolve import resolve
from gan.core.spec import Spec, load_spec, spec_from_dict


def reference_kernels(spec: Spec) -> Spec:
    """``spec`` with every ``implementation = "auto"`` optimizer pinned to torch's
    for-loop kernel: the one a hand-written ``torch.optim.Adam(...)`` uses on the CPU.

    ``auto`` picks fused kernels where they are faster; they compute the same update
    with a different rounding, which a parameter-for-parameter comparison at 1e-6 would
    report. A fidelity test is about the step's math, so it compares like with like.
    """
    pins = [
        f'phases.{p.name}.optimizer.implementation="for-loop"'
        for p in resolve(spec).phases
        if getattr(p.optimizer.params, "implementation", None) == "auto"
    ]
    return spec_from_dict(spec.canonical(), pins) if pins else spec


def tiny_engine(
    spec: str | Path | Spec,
    *overrides: str,
    batch_size: int = 16,
    limit: int = 256,
    reference: bool = True,
) -> Engine:
    """An engine on the offline ``digits`` data with a small batch, on the CPU; with
    ``reference``, its optimizers use the kernels of a hand-written step
    (:func:`reference_kernels`)."""
    base = [
        "data.source=digits",
        f"data.limit={limit}",
        f"train.batch_size={batch_size}",
        "train.device=cpu",
    ]
    loaded = spec if isinstance(spec, Spec) else load_spec(spec, [*base, *overrides])
    if reference:
        loaded = reference_kernels(loaded)
    return build_engine(loaded, torch.device("cpu"))


class _SourceRecorder:
    """A plugin object that keeps a copy of every source draw of one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sources: list[dict[str, torch.Tensor]] = []

    @hookimpl
    def gan_sources_drawn(self, engine: Engine, values: dict[str, torch.Tensor]) -> None:
        if engine is self.engine:
            self.sources.append({k: v.clone() for k, v in values.items()})


@contextlib.contextmanager
def observe_sources(engine: Engine) -> Iterator[list[dict[str, torch.Tensor]]]:
    """Within the block, every source draw of ``engine`` (data batch and latent samples;
    one per step plus one per ``fresh_batch`` phase execution) is appended, copied, to
    the list this yields. Observed through the ``gan_sources_drawn`` hook."""
    recorder = _SourceRecorder(engine)
    manager = engine.model.registry.manager
    manager.register(recorder)
    try:
        yield recorder.sources
    finally:
        manager.unregister(recorder)


@dataclass
class RecordedStep:
    """What one engine step started from and drew."""

    initial: nn.ModuleDict
    rng_state: torch.Tensor
    sources: list[dict[str, torch.Tensor]] = field(default_factory=list)
    losses: dict[str, float] = field(default_factory=dict)


def record_step(engine: Engine) -> RecordedStep:
    """Run ``engine.step()`` and return its starting point and every source draw.

    ``sources[0]`` is the step's batch and latent samples; later entries come from
    phases with ``fresh_batch = true``.
    """
    rec = RecordedStep(copy.deepcopy(engine.networks), torch.get_rng_state())
    with observe_sources(engine) as sources:
        result = engine.step()
    rec.sources = sources
    rec.losses = {k: float(v) for k, v in result.losses.items()}
    # the engine leaves requires_grad toggled per phase; the copy must start trainable
    for p in rec.initial.parameters():
        p.requires_grad_(True)
    return rec


def assert_same_parameters(
    actual: nn.Module, expected: nn.Module, rtol: float = 1e-5, atol: float = 1e-6
) -> None:
    """Every parameter and buffer of ``actual`` matches ``expected`` (by name)."""
    a = dict(actual.state_dict())
    e = dict(expected.state_dict())
    assert a.keys() == e.keys(), f"different tensors: {sorted(a.keys() ^ e.keys())}"
    for key in a:
        torch.testing.assert_close(
            a[key], e[key], rtol=rtol, atol=atol, msg=functools.partial(_named, key)
        )


def _named(key: str, message: str) -> str:
    return f"{key}: {message}"


def assert_changed(before: nn.Module, after: nn.Module) -> None:
    """At least one parameter differs (guards fidelity tests against a no-op step)."""
    pairs = zip(before.parameters(), after.parameters(), strict=True)
    assert any(not torch.equal(b, a) for b, a in pairs), "no parameter changed"
