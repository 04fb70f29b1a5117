"""The declarative spec: TOML text → validated pydantic models.

Loading happens in two stages, each with errors that name the key at fault:

1. :func:`load_spec` parses TOML, applies ``--set`` overrides and validates the structure
   (``extra="forbid"`` everywhere, so a typo is an error, with "did you mean").
2. :func:`gan.core.resolve.resolve` looks each ``type = "..."`` up in the registry and
   validates the component's own parameters, then builds the graph.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gan.core.errors import SpecError, did_you_mean
from gan.core.schedules import ScheduleSpec

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentSpec(BaseModel):
    """``type = "..."`` plus that component's parameters (validated by the registry)."""

    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DataSpec(Strict):
    """Where the real examples come from. Batches provide the nodes ``x`` and ``y``."""

    source: str = Field("digits", description="Registered data source, e.g. mnist, digits.")
    root: str | None = Field(None, description="Folder with the data (source-specific).")
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
        0, description="Seed of the validation carve-out (the same split for every train.seed)."
    )

    @field_validator("val")
    @classmethod
    def _count_or_fraction(cls, val: int | float) -> int | float:
        if isinstance(val, float) and not val < 1:
            raise ValueError("a fraction must be below 1; give a whole count as an integer")
        return val


class PhaseSpec(Strict):
    """One optimisation phase: which networks it updates, with what, minimising what."""

    name: str
    updates: list[str] = Field(min_length=1, description="Networks whose parameters change.")
    optimizer: ComponentSpec
    losses: dict[str, float] = Field(min_length=1, description="Loss term name → weight.")
    every: int = Field(1, ge=1, le=1_000_000, description="Run on steps where step % every == 0.")
    repeat: int = Field(1, ge=1, le=1000, description="Run K times per step (n_critic).")
    fresh_batch: bool = Field(
        False, description="Redraw data and latent samples before each repetition."
    )
    lr: dict[str, float] = Field(
        default_factory=dict,
        description="Learning rate per updated network, overriding the optimizer's lr for "
        "that network's parameter group (e.g. InfoGAN's information phase: G at G's rate).",
    )
    schedule: ScheduleSpec | None = Field(
        None,
        description="Learning-rate schedule of this phase's optimizer: constant, "
        "linear_decay (hold, decay, end_factor), multistep (milestones, gamma) or cosine "
        "(total, end_factor); lengths in `unit` = step | epoch.",
    )


class TrainSpec(Strict):
    batch_size: int = Field(64, ge=1, le=1_000_000)
    steps: int | None = Field(None, ge=1, description="Total steps; overrides epochs.")
    epochs: float = Field(1.0, gt=0)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    sync_batchnorm: bool = Field(
        False,
        description="Multi-process runs: BatchNorm statistics over all processes (GPUs only).",
    )
    channels_last: bool = Field(
        False, description="Channels-last memory for networks (faster convolutions on GPUs)."
    )
    log_every: int = Field(50, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    sample_every: int = Field(1000, ge=1)
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


class EvalSpec(Strict):
    """Metrics (``gan eval``, and during training with ``every``)."""

    split: Literal["train", "val", "test"] = Field(
        "test",
        description="Data split `gan eval` reads. During training ([eval] every) the "
        "validation split is used whenever data.val > 0.",
    )
    limit: int | None = Field(10_000, ge=1, description="Evaluate the first N examples.")
    batch_size: int = Field(500, ge=1, le=100_000)
    seed: int = Field(0, description="Seed of the latent draws used by sample metrics.")
    every: int | None = Field(None, ge=1, description="Evaluate every N training steps.")
    best: str | None = Field(
        None, description="Metric key (e.g. 'cluster/acc') that chooses best.safetensors."
    )
    best_mode: Literal["max", "min"] = "max"
    metrics: dict[str, ComponentSpec] = Field(
        default_factory=dict, description="Metric name → registered metric type + params."
    )


class LogSpec(Strict):
    """Where training metrics go (``metrics.jsonl`` always; TensorBoard optionally)."""

    tensorboard: bool = Field(
        False, description="Also write TensorBoard event files (needs gan[tensorboard])."
    )


class Spec(Strict):
    """A whole GAN: data, latent samplers, networks, graph, losses, phases, training."""

    name: str
    description: str = ""
    data: DataSpec = Field(default_factory=DataSpec)
    samplers: dict[str, ComponentSpec] = Field(default_factory=dict)
    networks: dict[str, ComponentSpec] = Field(min_length=1)
    graph: dict[str, str] = Field(default_factory=dict)
    losses: dict[str, ComponentSpec] = Field(min_length=1)
    phases: list[PhaseSpec] = Field(min_length=1)
    train: TrainSpec = Field(default_factory=TrainSpec)
    sample: SampleSpec = Field(default_factory=SampleSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    log: LogSpec = Field(default_factory=LogSpec)

    @field_validator("phases")
    @classmethod
    def _unique_phase_names(cls, phases: list[PhaseSpec]) -> list[PhaseSpec]:
        seen: set[str] = set()
        for p in phases:
            if p.name in seen:
                raise ValueError(f"two phases are named '{p.name}'; phase names must be unique")
            seen.add(p.name)
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


# ---------------------------------------------------------------------------------
# loading


def find_spec_file(name_or_path: str | Path) -> Path:
    """A path as given, or a shipped spec by short name (``bigan`` → specs/bigan.toml)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    shipped = SPECS_DIR / f"{Path(str(name_or_path)).stem}.toml"
    if not path.suffix and shipped.is_file():
        return shipped
    if path.suffix == ".toml" and not path.parent.parts and shipped.is_file():
        return shipped
    names = sorted(p.stem for p in SPECS_DIR.glob("*.toml"))
    raise SpecError(
        f"Spec file '{name_or_path}' does not exist.{did_you_mean(path.stem, names)} "
        f"Give a path to a .toml file, or the short name of a shipped spec: "
        f"{', '.join(names) or '(none)'}."
    )


def parse_toml(text: str | bytes, source: str) -> dict[str, Any]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(
                f"{source} is not UTF-8 text (byte {exc.start} cannot be decoded). "
                f"Save the spec as UTF-8."
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source} is not valid TOML: {exc}. Fix the syntax there.") from None


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.steps=50"`` → (["train", "steps"], 50). Values are TOML literals;
    anything that is not a TOML literal is taken as a plain string (so the shell's
    quote-stripping of ``data.source="digits"`` does not matter)."""
    if "=" not in item:
        raise SpecError(
            f"--set '{item}' has no '='. Write --set KEY=VALUE, e.g. --set train.steps=50."
        )
    key, raw = item.split("=", 1)
    keys = [k.strip() for k in key.strip().split(".")]
    if not all(keys):
        raise SpecError(f"--set '{item}': the key '{key}' has an empty part.")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return keys, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys in the raw spec. Phases may be addressed by index or by name."""
    for item in overrides:
        keys, value = parse_override(item)
        node: Any = data
        for i, key in enumerate(keys[:-1]):
            path = ".".join(keys[: i + 1])
            if isinstance(node, list):
                node = _list_item(node, key, path)
            else:
                if not isinstance(node, dict):
                    raise SpecError(f"--set {item}: '{path}' is not a table.")
                node = node.setdefault(key, {})
        last = keys[-1]
        if isinstance(node, list):
            raise SpecError(f"--set {item}: cannot replace a whole list item; set its keys.")
        if not isinstance(node, dict):
            raise SpecError(f"--set {item}: '{'.'.join(keys[:-1])}' is not a table.")
        node[last] = value
    return data


def _list_item(items: list[Any], key: str, path: str) -> Any:
    if key.isdigit() and int(key) < len(items):
        return items[int(key)]
    for item in items:
        if isinstance(item, dict) and item.get("name") == key:
            return item
    names = [str(i.get("name")) for i in items if isinstance(i, dict)]
    raise SpecError(
        f"--set: '{path}' matches no item; use an index (0..{len(items) - 1}) or a name: "
        f"{', '.join(names)}.{did_you_mean(key, names)}"
    )


def load_spec(name_or_path: str | Path, overrides: list[str] | None = None) -> Spec:
    """Read, override and validate a spec file. Raises :class:`SpecError`."""
    path = find_spec_file(name_or_path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"Cannot read spec file '{path}': {exc.strerror}.") from None
    return spec_from_dict(parse_toml(raw, f"Spec file '{path}'"), overrides, source=str(path))


def spec_from_dict(
    data: dict[str, Any], overrides: list[str] | None = None, source: str = "spec"
) -> Spec:
    data = apply_overrides(data, list(overrides or []))
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, source, data)) from None


def format_validation_error(exc: ValidationError, source: str, data: Any) -> str:
    """One paragraph per problem: the dotted key, the value, what is wrong, the fix."""
    lines = []
    for err in exc.errors()[:8]:
        loc = list(err["loc"])
        key = _dotted(loc, data)
        if err["type"] == "extra_forbidden":
            parent = _model_at(Spec, loc[:-1])
            choices = list(parent.model_fields) if parent else []
            hint = did_you_mean(str(loc[-1]), choices)
            valid = f" Valid keys here: {', '.join(choices)}." if choices else ""
            lines.append(f"{key}: unknown key.{hint}{valid}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key is missing. Add it to the spec.")
        else:
            value = err.get("input")
            shown = repr(value) if not isinstance(value, dict) else "a table"
            lines.append(f"{key} = {shown}: {err['msg']}.")
    more = len(exc.errors()) - 8
    if more > 0:
        lines.append(f"… and {more} more problem(s).")
    return f"{source} is not a valid spec:\n  " + "\n  ".join(lines)


def _dotted(loc: list[Any], data: Any) -> str:
    """``["phases", 0, "every"]`` → ``phases[0:'discriminator'].every``."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            item_node = node[item] if isinstance(node, list) and item < len(node) else None
            name = item_node.get("name") if isinstance(item_node, dict) else None
            parts[-1] += f"[{item}]" if not isinstance(name, str) else f"['{name}']"
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def _model_at(model: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    """The pydantic model class found by following ``loc`` from ``model``."""
    import typing

    current: Any = model
    for item in loc:
        if isinstance(item, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(item))
        if field is None:
            return None
        ann = field.annotation
        for _ in range(3):  # unwrap list[X] / dict[str, X] / X | None
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                break
            if not args:
                break
            ann = args[-1]
        current = ann
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None
