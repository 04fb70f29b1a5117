"""The spec's structure as pydantic models: what each table of a spec file may hold.

Every table forbids unknown keys (``Strict``), except the component tables, whose extra
keys are the component's own parameters (validated by the registry when the spec is
resolved, :mod:`gan.core.resolve`) and ``[data]``, whose extra keys belong to the data
source. Reading a file into these models is :mod:`gan.core.spec_load`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gan.core.limits import SEED_MAX
from gan.core.schedules import ScheduleSpec
from gan.core.spec_base import ComponentSpec, Strict
from gan.core.spec_eval import EvalSpec, LogSpec, SampleSpec
from gan.core.spec_names import NAME_MAX, NAME_RULE, name_problem

ROOT_MAX = 4096


class InitSpec(Strict):
    """How the engine (re)initialises a network's weights after its factory built it:
    every Linear/Conv weight from ``type`` (torch.nn.init), biases zero, norm layers'
    scale 1 and shift 0. Without it the plugin's own initialisation stands."""

    type: Literal["normal", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"]
    std: float = Field(0.02, gt=0, le=10, description="Standard deviation for `normal`.")


class NetworkSpec(ComponentSpec):
    """A network: ``type`` and the plugin's parameters, plus the engine's ``init``."""

    init: InitSpec | None = Field(
        None, description="Weight initialisation chosen in the spec (e.g. N(0, 0.01))."
    )


class SamplerSpec(ComponentSpec):
    """A latent sampler: ``type`` and the plugin's parameters, plus the engine's
    ``follows``."""

    follows: Literal["y"] | None = Field(
        None,
        description="In training steps, this sampler's values are the batch's labels "
        "(data node y) instead of its draws, e.g. a conditional GAN whose fakes are asked "
        "for the real batch's classes. The sampler still draws (so the other latents are "
        "the draws they would be without it); sampling and evaluation use its draws.",
    )


CORE_DATA_KEYS = frozenset({"source", "limit", "range", "val", "val_seed", "val_pick", "channels"})
"""``[data]`` keys every data source has: the core applies them to what a source loads.
The other keys belong to the source (declared by its params model, checked when the
spec is resolved): the built-in sources' keys are declared below for the schema, and a
plugin's source may read keys of its own."""


class DataSpec(BaseModel):
    """Where the real examples come from. Batches provide the nodes ``x`` and ``y``.

    Extra keys are kept for the source (a plugin's may declare its own); resolving the
    spec rejects an extra key the chosen source does not declare, with a did-you-mean.
    The keys declared here go to the sources that read them (core/resolve.py)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    source: str = Field("digits", description="Registered data source, e.g. mnist, digits.")
    root: str | None = Field(
        None, max_length=ROOT_MAX, description="Folder with the data (source-specific)."
    )
    image_size: int | None = Field(None, ge=4, le=1024, description="Resize side; None=native.")
    channels: int | None = Field(None, ge=1, le=4, description="Force channel count.")
    limit: int | None = Field(None, ge=1, description="Use only the first N training examples.")
    download: bool = Field(True, description="Download when missing (needs a network).")
    range: tuple[float, float] = Field((-1.0, 1.0), description="Pixel range after scaling.")
    val: int | float = Field(
        0,
        ge=0,
        description="Training examples held out as the validation split (seeded by "
        "val_seed): a count, or a fraction of the training split when below 1. [eval] "
        "every/best run on it; the test split is for the final figure.",
    )
    val_seed: int = Field(
        0,
        ge=0,
        le=SEED_MAX,
        description="Seed of the validation carve-out (the same split for every train.seed).",
    )
    val_pick: Literal["random", "first"] = Field(
        "random",
        description="Which training examples the validation split holds: 'random' (drawn "
        "with val_seed) or 'first' (the first ones in the source's order, as TF's MNIST "
        "reader holds out its validation_size, which official TF recipes train beside).",
    )

    @field_validator("val")
    @classmethod
    def _count_or_fraction(cls, val: int | float) -> int | float:
        if isinstance(val, float) and not val < 1:
            raise ValueError("a fraction must be below 1; give a whole count as an integer")
        return val

    skip_unreadable: bool = Field(
        False,
        description="image-folder: skip files that cannot be read as images (with a warning) "
        "instead of stopping with an error naming them.",
    )

    @field_validator("root")
    @classmethod
    def _plain_path(cls, root: str | None) -> str | None:
        if root is not None and any(ord(c) < 32 or ord(c) == 127 for c in root):
            raise ValueError(
                "a folder path must not contain control characters (a NUL byte, a newline, "
                "…); give the path of an existing folder"
            )
        return root


class PhaseSpec(Strict):
    """One optimisation phase: which networks it updates, with what, minimising what."""

    name: str
    updates: list[str] = Field(min_length=1, description="Networks whose parameters change.")
    optimizer: ComponentSpec
    losses: dict[str, float] = Field(min_length=1, description="Loss term name → weight.")
    every: int = Field(1, ge=1, le=1_000_000, description="Run on steps where step % every == 0.")
    repeat: int = Field(1, ge=1, le=1000, description="Run K times per step (n_critic).")
    start: int = Field(
        0,
        ge=0,
        description="First step at which this phase runs: a warm-up of the other phases "
        "before it (e.g. an autoencoder's reconstruction before its adversaries).",
    )
    fresh_batch: bool = Field(
        False, description="Redraw data and latent samples before each repetition."
    )
    fresh: Literal["none", "latents", "batch"] | None = Field(
        None,
        description="What this phase redraws before it runs: nothing (reuse the step's "
        "draws and the nodes computed from them), the latent samples only (the same "
        "data batch; InfoGAN's and ClusterGAN's official generator updates), or data "
        "and latents ('batch', the same as fresh_batch = true). Default: fresh_batch.",
    )

    @model_validator(mode="after")
    def _one_fresh(self) -> PhaseSpec:
        if self.fresh is not None and self.fresh_batch and self.fresh != "batch":
            raise ValueError(
                f"fresh = '{self.fresh}' contradicts fresh_batch = true; keep one of them"
            )
        return self

    @property
    def redraw(self) -> Literal["none", "latents", "batch"]:
        """What the phase redraws: ``fresh``, else ``fresh_batch``'s "batch" or "none"."""
        if self.fresh is not None:
            return self.fresh
        return "batch" if self.fresh_batch else "none"

    simultaneous: bool = Field(
        False,
        description="Step together with the previous phase from one forward pass: both "
        "phases' gradients come from the same parameters, batch and latents before "
        "either optimizer steps (BiGAN's official update). Needs repeat = 1 on both, the "
        "same every and start, and no network updated by both.",
    )
    lr: dict[str, float] = Field(
        default_factory=dict,
        description="Learning rate per updated network, overriding the optimizer's lr for "
        "that network's parameter group (e.g. InfoGAN's information phase: G at G's rate).",
    )
    clip_grad_norm: float | None = Field(
        None,
        gt=0,
        description="Clip each updated network's gradient to this L2 norm before the step "
        "(torch.nn.utils.clip_grad_norm_, per network: as if each had its own optimizer).",
    )
    schedule: ScheduleSpec | None = Field(
        None,
        description="Learning-rate schedule of this phase's optimizer: constant, "
        "linear_decay (hold, decay, end_factor), multistep (milestones, gamma) or cosine "
        "(total, end_factor); lengths in `unit` = step | epoch.",
    )


def _simultaneous_problem(before: PhaseSpec, phase: PhaseSpec) -> str | None:
    """Why ``phase`` cannot step together with ``before`` (None when it can): the two
    must run on the same steps, once each, on disjoint networks, from one draw."""
    if not phase.simultaneous:
        return None
    if before.repeat != 1 or phase.repeat != 1:
        return f"it and '{before.name}' must have repeat = 1 (one shared forward per step)"
    if before.every != phase.every or before.start != phase.start:
        return f"it must have the same every and start as '{before.name}'"
    shared = sorted(set(before.updates) & set(phase.updates))
    if shared:
        return f"it updates {shared} as '{before.name}' does; a network steps once per forward"
    if phase.redraw != "none":
        return (
            f"it also asks for fresh draws (fresh = '{phase.redraw}'); a simultaneous phase "
            f"shares the forward"
        )
    return None


class TrainSpec(Strict):
    batch_size: int = Field(64, ge=1, le=1_000_000)
    steps: int | None = Field(None, ge=1, description="Total steps; overrides epochs.")
    epochs: float = Field(1.0, gt=0)
    seed: int = Field(0, ge=0, le=SEED_MAX, description="Seed of every random stream.")
    seeds: list[int] | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="Train one independent replica per seed in this process (each in "
        "runs/NAME/seed_K/, with its own streams, as a run of that seed alone); "
        "`gan run --seeds 0-7` sets it. Unset: the one run of train.seed.",
    )
    vectorize: bool | Literal["auto"] | None = Field(
        None,
        description="Many seeds: step them as one set of stacked kernels (torch.func.vmap) "
        "or seed by seed. Unset or 'auto': the faster of the two, measured at the start "
        "(docs/seeds.md); the choice and its reason are printed.",
    )
    cuda_graph: bool | Literal["auto"] | None = Field(
        None,
        description="Capture one whole training step as a CUDA graph and replay it (GPUs "
        "only; what cannot be captured is named and the run stays eager). Unset: false.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int] | None) -> list[int] | None:
        if seeds is not None:
            if any(not 0 <= s <= SEED_MAX for s in seeds):
                raise ValueError(f"seeds are integers from 0 to {SEED_MAX}")
            if len(set(seeds)) != len(seeds):
                raise ValueError("a seed is listed twice; each seed names its own run folder")
        return seeds

    precision: Literal["fp32", "bf16", "fp16", "auto"] = Field(
        "fp32",
        description="Autocast dtype of forward passes. 'auto': bf16 on a CPU with "
        "AVX512-BF16 or AMX, fp32 elsewhere (on a GPU too, where bf16 was measured slower "
        "for the shipped models); `gan bench` says which was chosen and why.",
    )
    compile: bool | Literal["auto"] = Field(
        False,
        description="Compile each network with torch.compile (Inductor). 'auto': eager, "
        "as compiling was measured slower on the CPU and on an H100 (bench/results/"
        "speed.md, speed_gpu.md).",
    )
    compile_mode: Literal[
        "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"
    ] = Field(
        "default",
        description="torch.compile mode. 'reduce-overhead' (CUDA graphs) is refused on a "
        "GPU: a network called twice per step has its first output overwritten.",
    )
    sync_batchnorm: bool = Field(
        False,
        description="Multi-process runs: BatchNorm statistics over all processes (GPUs only).",
    )
    channels_last: bool = Field(
        False, description="Channels-last memory for networks (faster convolutions on GPUs)."
    )
    log_every: int | None = Field(
        None,
        ge=1,
        description="Log the losses every N steps. Unset: about 100 points over the run "
        "(steps / 100, at least 1).",
    )
    checkpoint_every: int = Field(1000, ge=1)
    sample_every: int | None = Field(
        None,
        ge=1,
        description="Write a sample grid every N steps. Unset: about 8 grids over the run "
        "(steps / 8, at least 1).",
    )
    keep_checkpoints: int = Field(3, ge=1)
    on_nan: Literal["stop", "skip"] = "stop"
    max_parameters: int = Field(
        500_000_000, ge=1, description="Refuse networks larger than this (before allocating)."
    )
    max_minutes: float | None = Field(
        None,
        gt=0,
        description="Wall-clock budget: stop (with a checkpoint) once this many minutes pass.",
    )


class Spec(Strict):
    """A whole GAN: data, latent samplers, networks, graph, losses, phases, training."""

    name: str = Field(
        description="Names the default run folder runs/<name>: " + NAME_RULE + ".",
        json_schema_extra={"pattern": r"^[A-Za-z0-9_.-]+$", "maxLength": NAME_MAX},
    )
    description: str = ""
    data: DataSpec = Field(default_factory=lambda: DataSpec())
    samplers: dict[str, SamplerSpec] = Field(default_factory=dict)
    networks: dict[str, NetworkSpec] = Field(min_length=1)
    graph: dict[str, str] = Field(default_factory=dict)
    losses: dict[str, ComponentSpec] = Field(min_length=1)
    phases: list[PhaseSpec] = Field(min_length=1)
    train: TrainSpec = Field(default_factory=lambda: TrainSpec())
    sample: SampleSpec = Field(default_factory=lambda: SampleSpec())
    eval: EvalSpec = Field(default_factory=lambda: EvalSpec())
    log: LogSpec = Field(default_factory=lambda: LogSpec())

    @field_validator("name")
    @classmethod
    def _plain_file_name(cls, name: str) -> str:
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        return name

    @field_validator("phases")
    @classmethod
    def _unique_phase_names(cls, phases: list[PhaseSpec]) -> list[PhaseSpec]:
        seen: set[str] = set()
        for p in phases:
            if p.name in seen:
                raise ValueError(f"two phases are named '{p.name}'; phase names must be unique")
            seen.add(p.name)
        for before, phase in itertools.pairwise(phases):
            problem = _simultaneous_problem(before, phase)
            if problem:
                raise ValueError(f"phase '{phase.name}' is simultaneous, but {problem}")
        if phases and phases[0].simultaneous:
            raise ValueError(
                f"the first phase '{phases[0].name}' is simultaneous, but no phase comes "
                f"before it to share its forward; remove simultaneous = true there"
            )
        if phases and min(p.start for p in phases) > 0:
            raise ValueError(
                "every phase has start > 0, so the first steps would train nothing; "
                "let at least one phase start at step 0 (e.g. the reconstruction phase "
                "of a warm-up)"
            )
        return phases

    def canonical(self) -> dict[str, Any]:
        """The spec with defaults filled in, as plain data (None values dropped)."""
        return self.model_dump(mode="json", exclude_none=True)

    def hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.canonical())
