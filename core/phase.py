"""What wraps one phase's optimizer: timing, loss scaling and gradient averaging.

:class:`PhaseStep` is to a phase what MMEngine's ``OptimWrapper`` is to an optimizer:
``zero_grad()``, ``backward(total)`` and ``step()`` do the plain thing, plus — when set —
the fp16 loss scaling (``scaler``), the multi-process gradient average (``sync``, a
:class:`gan.training.distributed.GradientSync`), per-network gradient clipping
(``phases[].clip_grad_norm``) and the section timing (``timer``, a
:class:`gan.core.timing.StepTimer`). The engine's step then reads as the plan.
:func:`build_optimizer` builds the optimizer itself, from the phase's spec.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from gan.core.components import Optimizer, OptimizerContext
from gan.core.errors import SpecError
from gan.core.resolve import Phase
from gan.core.timing import StepTimer


class GradientAverager(Protocol):
    """Averages a phase's gradients over processes (gan.training.distributed)."""

    def average_gradients(self, optimizer: torch.optim.Optimizer) -> None: ...

    def all_true(self, flag: torch.Tensor) -> bool: ...


class PhaseStep:
    """One phase's optimizer and the scaler, gradient sync and timer around it."""

    def __init__(
        self,
        phase: Phase,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None = None,
        clip: list[list[torch.nn.Parameter]] | None = None,
    ) -> None:
        self.phase = phase
        self.optimizer = optimizer
        self.scaler = scaler
        # phases[].clip_grad_norm: each updated network's gradients clipped on their own
        self.clip_norm = phase.spec.clip_grad_norm
        self.clip_groups = clip or []
        self.sync: GradientAverager | None = None
        self.timer: StepTimer | None = None

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.timer is not None:
            self.timer.lap("optimizer")

    def finite(self, total: torch.Tensor) -> bool:
        """Whether ``total`` is finite on every rank. Skipping must be agreed, or the
        ranks that skip would miss the gradient all-reduce the others wait in."""
        flag = torch.isfinite(total)
        return self.sync.all_true(flag) if self.sync is not None else bool(flag)

    def backward(self, total: torch.Tensor) -> None:
        if self.scaler is not None:
            self.scaler.scale(total).backward()
        else:
            total.backward()
        if self.sync is not None:
            self.sync.average_gradients(self.optimizer)
        if self.clip_norm is not None:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            for params in self.clip_groups:
                torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
        if self.timer is not None:
            self.timer.lap("backward")

    def step(self) -> None:
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.timer is not None:
            self.timer.lap("optimizer")


def build_optimizer(
    phase: Phase, networks: torch.nn.ModuleDict, device: torch.device
) -> torch.optim.Optimizer:
    """The optimizer of ``phase`` over the networks it updates: one parameter group, or
    one per network when ``phases[].lr`` gives some networks a rate of their own."""
    comp: Optimizer = phase.optimizer.component  # type: ignore[assignment]
    params = [p for name in phase.spec.updates for p in networks[name].parameters()]
    if not params:
        raise SpecError(
            f"phases['{phase.name}'].updates: the networks {phase.spec.updates} have no "
            f"trainable parameters."
        )
    groups: list[Any] = params
    if phase.spec.lr:  # one parameter group per network, some at their own rate
        groups = [
            {
                "params": list(networks[name].parameters()),
                **({"lr": phase.spec.lr[name]} if name in phase.spec.lr else {}),
            }
            for name in phase.spec.updates
        ]
    try:
        return comp.factory(phase.optimizer.params, OptimizerContext(groups, device))
    except (ValueError, TypeError, RuntimeError) as exc:
        raise SpecError(
            f"phases['{phase.name}'].optimizer (type '{comp.name}'): {exc}. "
            f"Fix the optimizer's parameters."
        ) from None
