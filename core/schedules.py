"""Per-phase learning-rate schedules, built from ``torch.optim.lr_scheduler``.

A phase's ``schedule`` table names one of the shapes below; the engine steps every
phase's scheduler once per training step (after all phases ran), so the rate is a
function of the step counter whatever a phase's ``every``/``repeat``. Lengths are in
``unit``s: steps, or epochs (converted with the data's batches per epoch).

The scheduler's state travels in checkpoints as JSON (:func:`dict_to_json`), so a
resumed run continues the schedule exactly where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.optim import lr_scheduler


class _Schedule(BaseModel):
    # NaN or infinite lengths and factors would reach torch's schedulers (a traceback or
    # a NaN rate mid-run): refused when the spec loads
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    unit: Literal["step", "epoch"] = Field("step", description="Unit of the lengths below.")


class Constant(_Schedule):
    """The optimizer's rate throughout (the default)."""

    type: Literal["constant"]


class LinearDecay(_Schedule):
    """Constant for ``hold``, then linear from 1× to ``end_factor``× over ``decay``
    (BiGAN: 200 epochs constant, 200 epochs down to 0)."""

    type: Literal["linear_decay"]
    hold: float = Field(0, ge=0, description="Length at the optimizer's rate.")
    decay: float = Field(gt=0, description="Length of the linear ramp.")
    end_factor: float = Field(0.0, ge=0, le=1, description="Final rate / initial rate.")


class ExponentialDecay(_Schedule):
    """Constant for ``hold``, then geometric from 1× to ``end_factor``× over ``decay``
    (and on at the same rate after it). BiGAN's official MNIST script runs this shape:
    train_mnist.sh passes no --linear_decay, so train_gan.py's set_lr decays
    exponentially to final_lr_mult = 0.01 over --decay_epochs."""

    type: Literal["exponential_decay"]
    hold: float = Field(0, ge=0, description="Length at the optimizer's rate.")
    decay: float = Field(gt=0, description="Length over which the rate falls to end_factor×.")
    end_factor: float = Field(0.01, gt=0, le=1, description="Rate / initial rate after decay.")


class MultiStep(_Schedule):
    """The rate times ``gamma`` at each milestone (the AAE paper: ÷10 at epochs 50 and
    1000)."""

    type: Literal["multistep"]
    milestones: list[Annotated[float, Field(ge=0)]] = Field(
        min_length=1, description="Where the rate is cut (0 or later)."
    )
    gamma: float = Field(0.1, gt=0, description="Factor applied at each milestone.")


class Cosine(_Schedule):
    """Cosine annealing from the optimizer's rate to ``end_factor``× over ``total``."""

    type: Literal["cosine"]
    total: float = Field(gt=0)
    end_factor: float = Field(0.0, ge=0, le=1)


ScheduleSpec = Annotated[
    Constant | LinearDecay | ExponentialDecay | MultiStep | Cosine, Field(discriminator="type")
]


def build(
    spec: ScheduleSpec | None, optimizer: torch.optim.Optimizer, batches_per_epoch: int
) -> lr_scheduler.LRScheduler | None:
    """torch's scheduler for ``spec`` (None: a constant rate needs none)."""
    if spec is None or isinstance(spec, Constant):
        return None
    per = batches_per_epoch if spec.unit == "epoch" else 1

    def steps(length: float) -> int:
        return max(1, round(length * per))

    if isinstance(spec, LinearDecay | ExponentialDecay):
        if isinstance(spec, LinearDecay):
            ramp: lr_scheduler.LRScheduler = lr_scheduler.LinearLR(
                optimizer,
                start_factor=1.0,
                end_factor=spec.end_factor,
                total_iters=steps(spec.decay),
            )
        else:
            gamma = spec.end_factor ** (1.0 / steps(spec.decay))
            ramp = lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
        hold = round(spec.hold * per)
        if hold == 0:
            return ramp
        # ConstantLR with factor 1 holds the rate; SequentialLR switches at `hold`.
        return lr_scheduler.SequentialLR(
            optimizer,
            [lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=hold), ramp],
            milestones=[hold],
        )
    if isinstance(spec, MultiStep):
        return lr_scheduler.MultiStepLR(
            optimizer, milestones=[steps(m) for m in spec.milestones], gamma=spec.gamma
        )
    base = min(group["lr"] for group in optimizer.param_groups)
    return lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=steps(spec.total), eta_min=base * spec.end_factor
    )


def dict_to_json(state: dict[str, Any]) -> str:
    """A scheduler's ``state_dict()`` as JSON (MultiStepLR keeps a Counter)."""
    return json.dumps(_encode(state))


def dict_from_json(text: str) -> dict[str, Any]:
    """The state dict :func:`dict_to_json` wrote."""
    return _decode(json.loads(text))


def _encode(value: Any) -> Any:
    if isinstance(value, Counter):
        return {"__counter__": [[k, n] for k, n in value.items()]}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__counter__"}:
            return Counter({k: n for k, n in value["__counter__"]})
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


_SCHEDULER_ORDER = r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`"


@contextlib.contextmanager
def quiet_order_warning() -> Iterator[None]:
    """Silence torch's warning that a scheduler stepped before its optimizer. A phase
    that has not run yet (a later ``start``, ``every``) still advances its schedule: by
    design the rate is a function of the step counter. torch checks only a scheduler's
    first step, so the engine needs this on its first step alone."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SCHEDULER_ORDER, category=UserWarning)
        yield


def build_all(phases, optimizers: dict, data) -> dict[str, Any]:
    """Every phase's scheduler (phases without a ``schedule`` have none), stepping per
    batch; ``data`` tells how many batches an epoch has (``unit = "epoch"``)."""
    per_epoch = data.batches_per_epoch if data is not None else 1
    return {
        p.name: sched
        for p in phases
        if (sched := build(p.spec.schedule, optimizers[p.name], per_epoch))
    }
