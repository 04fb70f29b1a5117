"""The spec's tables about what a run shows of itself: ``[sample]`` grids, ``[eval]``
metrics (with the BatchNorm mode they read and the health flags they raise) and
``[log]`` outputs. Split from :mod:`gan.core.spec_models` by job."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from gan.core.limits import SEED_MAX
from gan.core.spec_base import ComponentSpec, Strict


class SampleSpec(Strict):
    """What `gan run` draws into ``samples/*.png`` and what `gan sample` shows."""

    node: str | None = Field(None, description="Graph node holding generated images.")
    n: int = Field(64, ge=1, le=4096)
    rows: str | None = Field(
        None, description="A categorical sampler held fixed per row: one row per class/cluster."
    )
    traverse: str | None = Field(
        None, description="A continuous sampler whose dimensions `gan sample` sweeps along rows."
    )
    reconstruction: str | None = Field(
        None, description="A node reconstructing x: `gan sample` shows inputs beside it."
    )


class HealthRule(Strict):
    """One ``[eval.health.NAME]`` rule: the run is flagged NAME when a signal leaves its
    range — a metric of ``[eval.metrics]`` at the last ``last`` evaluations, or a logged
    loss term at the last ``last`` training logs (e.g. a sample Fréchet above 500: the
    generator collapsed; ``discriminator/d_real`` below 0.05: the critic won)."""

    metric: str | None = Field(None, description="A metric key, e.g. 'samples/frechet'.")
    loss: str | None = Field(None, description="A logged loss key, e.g. 'discriminator/d_real'.")
    above: float | None = Field(None, description="Flag when the value is above this.")
    below: float | None = Field(None, description="Flag when the value is below this.")
    last: int = Field(
        1, ge=1, le=100_000, description="Flag only when the last N values all are out."
    )
    says: str = Field("", max_length=200, description="What the flag means, for readers.")

    @model_validator(mode="after")
    def _one_signal(self) -> HealthRule:
        if (self.metric is None) == (self.loss is None):
            raise ValueError("give exactly one signal: metric = 'NAME/KEY' or loss = 'PHASE/TERM'")
        if self.above is None and self.below is None:
            raise ValueError("give a bound: above = X and/or below = Y")
        return self


class EvalSpec(Strict):
    """Metrics (``gan eval``, and during training with ``every``)."""

    split: Literal["train", "val", "test"] = Field(
        "test",
        description="Data split `gan eval` reads. During training ([eval] every) the "
        "validation split is used whenever data.val > 0.",
    )
    limit: int | None = Field(10_000, ge=1, description="Evaluate the first N examples.")
    batch_size: int = Field(500, ge=1, le=100_000)
    seed: int = Field(
        0, ge=0, le=SEED_MAX, description="Seed of the latent draws used by sample metrics."
    )
    every: int | None = Field(
        None,
        ge=1,
        description="Evaluate every N training steps (and at the last). Unset: once, at the "
        "last step, when the spec declares metrics.",
    )
    best: str | None = Field(
        None, description="Metric key (e.g. 'cluster/acc') that chooses best.safetensors."
    )
    best_mode: Literal["max", "min"] = "max"
    batchnorm: Literal["running", "batch", "reestimate"] = Field(
        "running",
        description="BatchNorm statistics the metrics read: the running statistics of "
        "training, each evaluated batch's own, or running statistics re-estimated over "
        "batchnorm_batches training batches before each evaluation (BiGAN's "
        "--deploy_iters). Training's statistics are restored afterwards.",
    )
    batchnorm_batches: int = Field(
        50, ge=1, le=1_000_000, description="Training batches of a re-estimation."
    )
    health: dict[str, HealthRule] = Field(
        default_factory=dict,
        description="Flags raised at evaluation when a declared signal leaves its range "
        "(collapse, a critic that wins outright): shown in the console, run.json and "
        "`gan report`.",
    )
    metrics: dict[str, ComponentSpec] = Field(
        default_factory=dict, description="Metric name → registered metric type + params."
    )


class LogSpec(Strict):
    """Where training metrics go (``metrics.jsonl`` always; TensorBoard optionally)."""

    tensorboard: bool = Field(
        False, description="Also write TensorBoard event files (needs gan[tensorboard])."
    )
