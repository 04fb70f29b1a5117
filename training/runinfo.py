"""A run folder as data, for `gan report` and `gan compare`; and the small ``run.json``
the trainer writes beside it (command line, machine, versions, start/end).

Reading never changes the folder and works on a run still in progress: a last
metrics.jsonl line cut short by a write in flight is skipped; any other line that is not
a JSON object is a :class:`~gan.core.errors.GanError` naming the file and the line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan.core.errors import GanError
from gan.core.safefiles import TEXT_CAP, read_inside, regular_inside

RUN_JSON = "run.json"
MAX_METRICS_BYTES = TEXT_CAP  # a run folder is read whole; refuse a giant file


@dataclass
class Run:
    """What a run folder holds. ``spec`` is the resolved spec as plain data (``{}`` when
    spec.toml is absent), ``train`` the training lines of metrics.jsonl, ``evals`` its
    ``eval/...`` lines (keys without the ``eval/`` prefix), ``info`` run.json (``{}``
    when absent)."""

    path: Path
    spec_text: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    train: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    samples: list[tuple[int, Path]] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    best_checkpoint: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.path.name)

    @property
    def planned_steps(self) -> int | None:
        steps = self.spec.get("train", {}).get("steps")
        return steps if isinstance(steps, int) else None

    @property
    def last_step(self) -> int:
        steps = [r["step"] for r in self.train + self.evals]
        return max(steps, default=0)

    @property
    def _last_session(self) -> dict[str, Any]:
        sessions = self.info.get("sessions") or [{}]
        return sessions[-1] if isinstance(sessions[-1], dict) else {}

    @property
    def execution(self) -> dict[str, Any]:
        """How the latest session ran (precision, compile, CUDA graphs: the values the
        trainer chose, e.g. bf16 from ``precision = "auto"`` on a CPU with bf16
        hardware), so that a record says what its figure was computed in."""
        chosen = self._last_session.get("execution")
        if not isinstance(chosen, dict):
            return {}
        return {k: v.get("value") if isinstance(v, dict) else v for k, v in chosen.items()}

    @property
    def end_step(self) -> int:
        """The step the latest session ended on (and checkpointed, when stopped), from
        run.json; the last logged step where run.json does not say. They differ when a
        run stops between two log lines."""
        end = self._last_session.get("end_step")
        return end if isinstance(end, int) and not isinstance(end, bool) else self.last_step

    @property
    def seed(self) -> Any:
        return self.spec.get("train", {}).get("seed")

    @property
    def status(self) -> str:
        """``finished``, ``in progress``, ``stopped (…)`` — from run.json where the trainer
        wrote one, else guessed from the planned and the logged steps."""
        last = self._last_session
        if last.get("status") == "running":  # or killed without a chance to say so
            return "in progress (or killed)"
        if last.get("status"):
            return str(last["status"])
        planned = self.planned_steps
        if planned is not None and self.last_step >= planned:
            return "finished"
        return "in progress (or stopped)"

    def eval_metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for record in self.evals:
            names.update((k, None) for k in record if k not in ("step", "time", "split"))
        return list(names)

    def loss_names(self) -> list[str]:
        """``phase/term`` keys of the training lines, in first-seen order."""
        names: dict[str, None] = {}
        for record in self.train:
            names.update((k, None) for k in record if "/" in k)
        return list(names)

    def best_eval(self) -> dict[str, Any] | None:
        """The eval line chosen by the spec's ``eval.best`` (its ``best_mode``); the last
        eval line where the spec names no best metric."""
        if not self.evals:
            return None
        spec_eval = self.spec.get("eval", {})
        key = spec_eval.get("best")
        scored = [r for r in self.evals if isinstance(r.get(key), int | float)]
        if not key or not scored:
            return self.evals[-1]
        sign = -1.0 if spec_eval.get("best_mode", "max") == "min" else 1.0
        finite = [r for r in scored if math.isfinite(r[key])] or scored
        return max(finite, key=lambda r: (sign * r[key], r["step"]))


def _not_a_run(path: Path, why: str) -> GanError:
    return GanError(
        f"'{path}' {why}. Give the folder of a run written by `gan run` (it holds spec.toml "
        f"and metrics.jsonl), e.g. `gan run bigan --set data.source=digits --set "
        f"train.steps=200` writes runs/bigan."
    )


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Training and eval lines of a metrics.jsonl; notes about skipped lines."""
    data = read_inside(path.parent, path, MAX_METRICS_BYTES)
    if data is None:
        return [], [], []
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    in_flight = not text.endswith("\n")  # the last line may still be being written
    train: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    notes: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                raise ValueError("not a JSON object with an integer 'step'")
        except (ValueError, RecursionError) as exc:
            if in_flight and number == len(lines):
                notes.append(f"metrics.jsonl line {number} is incomplete (still being written)")
                continue
            why = "a JSON object" if not isinstance(exc, ValueError) else str(exc)[:80]
            raise GanError(
                f"'{path}' line {number} is not a metrics record ({why}): "
                f"{line[:60]!r}. The trainer writes one JSON object per line; fix or delete "
                f"that line (e.g. sed -i '{number}d' {shlex.quote(str(path))})."
            ) from None
        if any(k.startswith("eval/") for k in record):
            values = {k[5:]: v for k, v in record.items() if k.startswith("eval/")}
            evals.append({"step": record["step"], "split": record.get("split"), **values})
        else:
            train.append(record)
    return train, evals, notes


# -- damaged fields: what a report and a comparison can rely on ---------------------------

MAX_MAGNITUDE = 1e100  # no loss, metric or time reaches this; beyond it sums overflow
SPEC_TABLES = ("data", "train", "eval", "sample", "log", "samplers", "networks", "graph", "losses")
SESSION_NUMBERS = ("started", "ended", "seconds", "world_size", "step")
SESSION_TEXTS = ("command", "cwd", "status")


def _usable(value: Any) -> bool:
    """A number a report may draw and a comparison may sum: finite and of sane size."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < MAX_MAGNITUDE
    )


def _clean_lines(lines: list[dict[str, Any]], file: str) -> list[str]:
    """Drop from metrics lines (in place) the values that are not usable numbers, but
    the ``split`` name; one note naming the first few, so the reader knows what is left
    out. A line keeps its step: a damaged value does not lose the others."""
    damaged: list[str] = []
    for line in lines:
        for key in [k for k in line if k != "step"]:
            value = line[key]
            if key == "split" and (value is None or isinstance(value, str)):
                continue
            if _usable(value):
                continue
            damaged.append(f"'{key[:60]}' at step {line['step']} ({str(value)[:20]})")
            del line[key]
    if not damaged:
        return []
    shown = ", ".join(damaged[:3]) + (f" and {len(damaged) - 3} more" if len(damaged) > 3 else "")
    return [f"{file}: {len(damaged)} value(s) that are not finite numbers left out: {shown}"]


def _clean_spec(spec: dict[str, Any]) -> list[str]:
    """A spec.toml a report reads: each table a table, ``phases`` a list of tables."""
    notes = []
    for key in SPEC_TABLES:
        if key in spec and not isinstance(spec[key], dict):
            notes.append(
                f"spec.toml: '{key}' is {repr(spec[key])[:20]}, not a table; read as empty"
            )
            spec[key] = {}
    phases = spec.get("phases")
    if phases is not None and not (
        isinstance(phases, list) and all(isinstance(p, dict) for p in phases)
    ):
        notes.append("spec.toml: 'phases' is not a list of tables; read as none")
        spec["phases"] = []
    return notes


def _clean_info(info: dict[str, Any]) -> list[str]:
    """run.json's sessions: a list of tables whose times are finite numbers and whose
    texts are texts; anything else is dropped and named."""
    notes: list[str] = []
    sessions = info.get("sessions")
    if sessions is None:
        return notes
    if not isinstance(sessions, list):
        info["sessions"] = []
        return [f"run.json: 'sessions' is not a list ({type(sessions).__name__}); not read"]
    kept = [s for s in sessions if isinstance(s, dict)]
    if len(kept) < len(sessions):
        notes.append(f"run.json: {len(sessions) - len(kept)} session(s) are not tables; not read")
    for k, session in enumerate(kept):
        bad = [key for key in SESSION_NUMBERS if key in session and not _usable(session[key])]
        bad += [
            key for key in SESSION_TEXTS if key in session and not isinstance(session[key], str)
        ]
        bad += [
            key
            for key in ("machine", "versions")
            if key in session and not isinstance(session[key], dict)
        ]
        for key in bad:
            del session[key]
        if bad:
            notes.append(f"run.json: session {k + 1}'s {', '.join(bad)} damaged; left out")
    info["sessions"] = kept
    return notes


def read_run(path: str | Path) -> Run:
    """Read a run folder; a GanError naming the problem and the fix if it is not one."""
    from gan.core.spec import parse_toml

    path = Path(path)
    if not path.exists():
        raise _not_a_run(path, "does not exist")
    if not path.is_dir():
        raise _not_a_run(path, "is not a folder")
    spec_file, metrics_file = path / "spec.toml", path / "metrics.jsonl"
    if not os.path.lexists(spec_file) and not os.path.lexists(metrics_file):
        raise _not_a_run(path, "holds neither spec.toml nor metrics.jsonl")
    run = Run(path)
    spec_bytes = read_inside(path, spec_file)
    if spec_bytes is not None:
        run.spec_text = spec_bytes.decode("utf-8", errors="replace")
        run.spec = parse_toml(run.spec_text, f"Spec file '{spec_file}'")
    else:
        run.notes.append("spec.toml is missing")
    run.train, run.evals, notes = read_metrics(metrics_file)
    run.notes += notes
    for png in sorted((path / "samples").glob("step_*.png")):
        match = re.fullmatch(r"step_(\d+)\.png", png.name)
        if match and regular_inside(path, png):
            run.samples.append((int(match[1]), png))
    run.samples.sort()
    ckpt = path / "checkpoints"
    run.checkpoints = [
        c for c in sorted(ckpt.glob("step_*.safetensors")) if regular_inside(path, c)
    ]
    best = ckpt / "best.safetensors"
    run.best_checkpoint = best if regular_inside(path, best) else None
    run.info = read_run_json(path)
    run.notes += _clean_spec(run.spec)
    run.notes += _clean_lines(run.train, "metrics.jsonl")
    run.notes += _clean_lines(run.evals, "metrics.jsonl (evaluations)")
    run.notes += _clean_info(run.info)
    return run


def read_run_json(folder: Path) -> dict[str, Any]:
    """run.json as a dict; ``{}`` when absent, damaged, or not a file of the folder (the
    run facts are a convenience: the report says what it could not read elsewhere)."""
    try:
        data = read_inside(folder, folder / RUN_JSON)
        info = json.loads(data.decode("utf-8")) if data is not None else {}
    except (GanError, ValueError, RecursionError):
        return {}
    return info if isinstance(info, dict) else {}


# -- run.json: written by the trainer (rank 0) ------------------------------------------


def _command() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("gan", "__main__.py"):
        argv[0] = "gan"
    return shlex.join(argv)


def _machine(device: Any) -> dict[str, Any]:
    import torch

    machine: dict[str, Any] = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "device": str(device),
    }
    if getattr(device, "type", None) == "cuda" and torch.cuda.is_available():
        machine["gpu"] = torch.cuda.get_device_name(device)
    return machine


def start_session(
    folder: Path,
    *,
    device: Any,
    seed: int,
    step: int,
    world_size: int,
    resumed: bool,
    execution: dict[str, Any] | None = None,
) -> dict:
    """Record this invocation in ``run.json`` (atomically; appended to the earlier ones
    when the run is resumed) and return its record."""
    import torch

    from gan._version import __version__

    info = read_run_json(folder) if resumed else {}
    sessions: list = info["sessions"] if isinstance(info.get("sessions"), list) else []
    session = {
        "command": _command(),
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "started": time.time(),
        "start_step": step,
        "seed": seed,
        "status": "running",
        "world_size": world_size,
        "versions": {
            "gan": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "machine": _machine(device),
        # what train.precision / train.compile became on this machine, and why
        "execution": execution or {},
    }
    sessions.append(session)
    _write_run_json(folder, {**info, "sessions": sessions})
    return session


def end_session(folder: Path, session: dict, *, step: int, status: str) -> None:
    """Record the end of the session :func:`start_session` began (steps, seconds)."""
    session.update(
        status=status,
        ended=time.time(),
        end_step=step,
        seconds=round(time.time() - session["started"], 3),
    )
    info = read_run_json(folder)
    sessions: list = info["sessions"] if isinstance(info.get("sessions"), list) else []
    if sessions and sessions[-1].get("started") == session["started"]:
        sessions[-1] = session
    else:
        sessions.append(session)
    _write_run_json(folder, {**info, "sessions": sessions})


def record_health(folder: Path, step: int, raised: dict[str, str]) -> None:
    """``run.json`` ``health``: the flags raised at the latest evaluation (``step``,
    ``flags``: name → reason) and the step at which each flag was first raised
    (``first``), so a run that collapsed and recovered still shows it."""
    info = read_run_json(folder)
    old = info.get("health")
    earlier = old.get("first") if isinstance(old, dict) else None
    first = dict(earlier) if isinstance(earlier, dict) else {}
    for name in raised:
        first.setdefault(name, step)
    info["health"] = {"step": step, "flags": dict(raised), "first": first}
    _write_run_json(folder, info)


def health_flags(folder: Path) -> dict[str, Any]:
    """What ``run.json`` says of the run's health (``{}`` when nothing was declared):
    for reports and quality records (``flags``)."""
    health = read_run_json(folder).get("health")
    return health if isinstance(health, dict) else {}


def _write_run_json(folder: Path, info: dict) -> None:
    from gan.training.checkpoint import atomic_write_bytes

    with contextlib.suppress(OSError):  # run facts are a convenience: never stop training
        atomic_write_bytes(folder / RUN_JSON, json.dumps(info, indent=1).encode())
