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
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gan.core.errors import SpecError, did_you_mean
from gan.core.limits import MAX_INT_DIGITS, SEED_MAX
from gan.core.schedules import ScheduleSpec

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"

# Bounds on what a spec (a file, a checkpoint's stored spec, --set values) may be.
MAX_SPEC_BYTES = 1 << 20  # a spec is a small text file; shipped ones are a few KiB
MAX_DEPTH = 32  # nested tables/arrays; shipped specs need 5
NAME_MAX = 100
NAME_RULE = (
    f"letters, digits, '-', '_' and '.' only, at most {NAME_MAX} characters, not '.' or '..'"
)
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.-]+")
ROOT_MAX = 4096


def name_reason(name: object) -> str | None:
    """What is wrong with ``name`` as a run folder's name (``runs/<name>``), or None.

    A spec (or a checkpoint) may come from someone else: its name must not choose where
    files are written or deleted, so it is a plain file name — no separators, no ``..``.
    """
    if not isinstance(name, str):
        return "must be a string"
    if not name:
        return "must not be empty"
    if len(name) > NAME_MAX or not _NAME_CHARS.fullmatch(name) or name in (".", ".."):
        return f"must be a plain file name ({NAME_RULE})"
    return None


def name_problem(name: object) -> str | None:
    """:func:`name_reason` with the why and the fix, for error messages; or None."""
    reason = name_reason(name)
    if reason is None:
        return None
    hint = safe_name(name) if isinstance(name, str) else "my-gan"
    return (
        f"the name {reason}, because it names the run folder runs/<name>. Rename it, "
        f'e.g. name = "{hint}" (the folder itself can be chosen with --out)'
    )


def safe_name(name: str) -> str:
    """A valid name close to ``name`` (the suggestion in error messages)."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-")[:NAME_MAX]
    return clean or "my-gan"


def _shown(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut short for error messages."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list) and len(value) > 8:
        return f"a list of {len(value)} items"
    try:
        text = repr(value)
    except RecursionError:  # pragma: no cover - depth is checked before
        text = f"a nested {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Strict(BaseModel):
    # every number written in a spec is finite: NaN/inf in a rate, a weight, a length
    # would surface mid-run as a traceback or a NaN loss
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ComponentSpec(BaseModel):
    """``type = "..."`` plus that component's parameters (validated by the registry)."""

    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


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


CORE_DATA_KEYS = frozenset({"source", "limit", "range", "val", "val_seed", "channels"})
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


class TrainSpec(Strict):
    batch_size: int = Field(64, ge=1, le=1_000_000)
    steps: int | None = Field(None, ge=1, description="Total steps; overrides epochs.")
    epochs: float = Field(1.0, gt=0)
    seed: int = Field(0, ge=0, le=SEED_MAX, description="Seed of every random stream.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
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
    seed: int = Field(
        0, ge=0, le=SEED_MAX, description="Seed of the latent draws used by sample metrics."
    )
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

    name: str = Field(
        description="Names the default run folder runs/<name>: " + NAME_RULE + ".",
        json_schema_extra={"pattern": r"^[A-Za-z0-9_.-]+$", "maxLength": NAME_MAX},
    )
    description: str = ""
    data: DataSpec = Field(default_factory=lambda: DataSpec())
    samplers: dict[str, ComponentSpec] = Field(default_factory=dict)
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
    if path.exists():
        return path  # a folder, a device, a pipe: read_spec_bytes says what is wrong
    names = sorted(p.stem for p in SPECS_DIR.glob("*.toml"))
    raise SpecError(
        f"Spec file '{name_or_path}' does not exist.{did_you_mean(path.stem, names)} "
        f"Give a path to a .toml file, or the short name of a shipped spec: "
        f"{', '.join(names) or '(none)'}."
    )


def read_spec_bytes(path: Path) -> bytes:
    """A spec file's bytes, refusing anything but a regular file of at most
    :data:`MAX_SPEC_BYTES` (a folder, ``/dev/zero``, a pipe never hang or traceback)."""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise SpecError(
            f"Cannot read spec file '{path}': {exc.strerror or exc}. Give a readable .toml file."
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SpecError(f"Spec file '{path}' is a folder. Give the path of a .toml file.")
        if not stat.S_ISREG(mode):
            raise SpecError(
                f"Spec file '{path}' is not a regular file (a device, pipe or socket). "
                f"Give the path of a .toml file."
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"Cannot read spec file '{path}': {exc.strerror or exc}.") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(
            f"Spec file '{path}' is larger than {MAX_SPEC_BYTES >> 20} MiB; a spec is a small "
            f"TOML text file. Check that the path names a spec."
        )
    return data


def parse_toml(text: str | bytes, source: str) -> dict[str, Any]:
    """TOML text → a dict; any problem (encoding, syntax, size, nesting) is a SpecError."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{source} is larger than {MAX_SPEC_BYTES >> 20} MiB; a spec is a small TOML text file."
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(
                f"{source} is not UTF-8 text (byte {exc.start} cannot be decoded). "
                f"Save the spec as UTF-8."
            ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source} is not valid TOML: {exc}. Fix the syntax there.") from None
    except RecursionError:
        raise SpecError(_too_deep(source)) from None
    check_depth(data, source)
    return data


def _too_deep(source: str, where: str = "") -> str:
    at = f" at {where}" if where else ""
    return (
        f"{source} nests arrays/tables more than {MAX_DEPTH} levels deep{at}; a spec needs "
        f"only a few levels. Flatten it."
    )


def check_depth(data: Any, source: str) -> None:
    """Refuse data nested deeper than :data:`MAX_DEPTH` (walked without recursion), so
    nothing downstream (validation, hashing, messages) can exhaust the stack."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        node, depth, key = stack.pop()
        if isinstance(node, dict):
            children = [(v, f"{key}.{k}" if key else str(k)) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(v, f"{key}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        if depth > MAX_DEPTH:
            shown = key if len(key) <= 60 else key[:59] + "…"
            raise SpecError(_too_deep(source, f"'{shown}'"))
        stack.extend((child, depth + 1, path) for child, path in children)


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
    except RecursionError:
        raise SpecError(_too_deep(f"--set {key.strip()}=…")) from None
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
    data = read_spec_data(path)
    return spec_from_dict(data, overrides, source=str(path), folder=path.parent)


def read_spec_data(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A spec file as plain data, with its ``extends`` chain merged in."""
    raw = read_spec_bytes(path)
    data = parse_toml(raw, f"Spec file '{path}'")
    return extend(data, path.parent, (*seen, path.resolve()), str(path))


MAX_EXTENDS = 8  # a chain of bases longer than this is a mistake


def extend(
    data: dict[str, Any], folder: Path | None, seen: tuple[Path, ...] = (), source: str = "spec"
) -> dict[str, Any]:
    """``extends = "base"``: the base spec (a shipped short name, or a path relative to
    the extending file) deep-merged under ``data``. Tables merge key by key, everything
    else (arrays included) replaces; a component table (``[networks.G]`` …) whose
    ``type`` changes replaces the base's table instead of merging with it. A table given
    where the base has an array of named tables (``[phases.generator]`` against the
    base's ``[[phases]]``) patches those items by name, as ``--set phases.NAME.key=…``
    does, so a variant that changes one phase need not restate the others."""
    if "extends" not in data:
        return data
    data = dict(data)
    base_name = data.pop("extends")
    if not isinstance(base_name, str) or not base_name:
        raise SpecError(f"{source}: extends = {_shown(base_name)} must name a spec (e.g. 'bigan').")
    candidate = Path(base_name).expanduser()
    if folder is not None and not candidate.is_absolute() and (folder / candidate).is_file():
        candidate = folder / candidate
    path = find_spec_file(candidate if candidate.is_file() else base_name)
    if path.resolve() in seen:
        chain = " → ".join(str(p) for p in (*seen, path.resolve()))
        raise SpecError(f"{source}: extends = '{base_name}' makes a cycle: {chain}.")
    if len(seen) > MAX_EXTENDS:
        raise SpecError(f"{source}: more than {MAX_EXTENDS} specs extend each other.")
    return merge(read_spec_data(path, seen), data, source)


def merge(base: Any, over: Any, source: str = "spec", where: str = "") -> Any:
    """``over`` deep-merged onto ``base`` (see :func:`extend`)."""
    if isinstance(base, list) and isinstance(over, dict) and _named_items(base):
        return _patch_by_name(base, over, source, where)
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        retyped = (
            isinstance(value, dict)
            and "type" in value
            and value["type"] != (old.get("type") if isinstance(old, dict) else None)
        )
        path = f"{where}.{key}" if where else str(key)
        out[key] = value if retyped else merge(old, value, source, path) if key in out else value
    return out


def _named_items(items: list[Any]) -> bool:
    return bool(items) and all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in items
    )


def _patch_by_name(
    items: list[dict[str, Any]], patches: dict[str, Any], source: str, where: str
) -> list[Any]:
    """The base's named items with ``patches[name]`` merged into each; the order and
    the items not named are the base's. A name the base lacks is an error: a new item
    has no place in the order, so the whole array must be spelled out instead."""
    names = [item["name"] for item in items]
    out = list(items)
    for name, patch in patches.items():
        if name not in names:
            raise SpecError(
                f"{source}: [{where}.{name}] patches an item of the base's {where}, which has "
                f"{', '.join(names)}.{did_you_mean(str(name), names)} To add or reorder items, "
                f"write the whole array ([[{where}]] …) instead."
            )
        if not isinstance(patch, dict):
            raise SpecError(
                f"{source}: {where}.{name} = {_shown(patch)} must be a table of keys to change, "
                f"e.g. [{where}.{name}] with lr = 1e-3 under it."
            )
        i = names.index(name)
        out[i] = merge(out[i], patch, source, f"{where}.{name}")
    return out


REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
SUM = re.compile(r"\s*(\$\{[A-Za-z0-9_.-]+\}|\d+)(\s*\+\s*(\$\{[A-Za-z0-9_.-]+\}|\d+))*\s*")


def interpolate(data: Any, root: dict[str, Any] | None = None, where: str = "") -> Any:
    """Replace ``"${samplers.zn.dim}"`` by that value of the spec, and
    ``"${samplers.zn.dim} + ${samplers.zc_idx.classes}"`` by the sum: sizes that follow
    from other entries are written once."""
    root = data if root is None else root
    if isinstance(data, dict):
        return {k: interpolate(v, root, f"{where}{k}.") for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, root, f"{where}{i}.") for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data
    key = where[:-1]
    if not SUM.fullmatch(data):
        raise SpecError(
            f'{key} = "{_shown(data)}": a reference is "${{table.key}}" alone or a sum of '
            f'references and integers, e.g. "${{samplers.zn.dim}} + ${{samplers.zc.classes}}".'
        )
    parts = [p.strip() for p in data.split("+")]
    values = []
    for part in parts:
        m = REFERENCE.fullmatch(part)
        if m is None:
            if len(part) > MAX_INT_DIGITS:  # beyond any size; and int() has a digit limit
                raise SpecError(
                    f'{key} = "{_shown(data)}": the integer {_shown(part, 24)} has '
                    f"{len(part)} digits; a term of a sum has at most {MAX_INT_DIGITS}."
                )
            values.append(int(part))
            continue
        value: Any = root
        for name in m.group(1).split("."):
            if not isinstance(value, dict) or name not in value:
                raise SpecError(
                    f"{key} = \"{_shown(data)}\": the spec has no '{_shown(m.group(1))[1:-1]}'. "
                    f"Only keys written in the spec (or its extends base) resolve, not "
                    f"defaults: write the value there, or the number itself here."
                )
            value = value[name]
        if isinstance(value, str) and "${" in value:
            raise SpecError(f"{key} = \"{_shown(data)}\": '{m.group(1)}' is itself a reference.")
        values.append(value)
    if len(values) == 1:
        return values[0]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise SpecError(
            f'{key} = "{_shown(data)}": only integers can be summed, got {_shown(values)}.'
        )
    return sum(values)


def spec_from_dict(
    data: dict[str, Any],
    overrides: list[str] | None = None,
    source: str = "spec",
    folder: Path | None = None,
) -> Spec:
    data = extend(data, folder, source=source)
    data = apply_overrides(data, list(overrides or []))
    check_depth(data, source if not overrides else f"{source} (with --set)")
    data = interpolate(data)
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
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{key} = {_shown(err.get('input'))}: {msg}.")
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
