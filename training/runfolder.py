"""A run's folder: created (or validated) before training, never written through a
symbolic link, overwritten only with ``--force``; on ``--resume`` the checkpoint's stored
spec must match the run's (but for the keys that cannot change the model) and
``metrics.jsonl`` is cut back to the checkpoint's step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gan.core.errors import CheckpointError, GanError
from gan.core.spec import MAX_SPEC_BYTES, Spec, check_depth, name_problem
from gan.training import checkpoint
from gan.training.checkpoint import BEST

# Keys that may change between a run and its resumption without changing the model.
RESUMABLE_CHANGES = {
    "train.steps",
    "train.epochs",
    "train.log_every",
    "train.checkpoint_every",
    "train.sample_every",
    "train.keep_checkpoints",
    "train.device",
    "train.on_nan",
    "train.sync_batchnorm",
    "train.channels_last",
    "train.compile",
    "train.compile_mode",
    "train.max_minutes",
    "eval",
    "sample.n",
    "description",
    "data.root",
    "data.download",
    "data.skip_unreadable",
}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        out = {}
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}{v.get('name', i)}."))
        return out
    return {prefix[:-1]: data}


def spec_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = flatten(old), flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and not _resumable(k))


def _resumable(key: str) -> bool:
    """A key (or a key under a table) listed in RESUMABLE_CHANGES."""
    return any(key == r or key.startswith(f"{r}.") for r in RESUMABLE_CHANGES)


def stored_spec(meta: dict[str, str], path: Path) -> dict[str, Any]:
    """The spec a checkpoint stores (``spec_json``) as plain data, ``{}`` if it is absent
    or unreadable. A checkpoint may come from elsewhere: its name is checked like a spec
    file's (it must not be able to name a folder outside runs/) and its nesting bounded."""
    text = meta.get("spec_json", "{}")
    try:
        if len(text) > MAX_SPEC_BYTES:
            raise ValueError("too large")
        old = json.loads(text)
    except (ValueError, RecursionError):
        old = {}
    if not isinstance(old, dict):
        old = {}
    check_depth(old, f"The spec stored in '{path}'")
    if "name" in old and (problem := name_problem(old["name"])) is not None:
        raise CheckpointError(
            f"The spec stored in '{path}' is not a valid spec: name = {old['name']!r:.80}: "
            f"{problem}. Use a checkpoint whose spec has a plain name."
        )
    return old


def prepare(out: Path, *, resume: bool, force: bool) -> Path | None:
    """Create/validate the run folder ``out``. Returns the checkpoint to resume from."""
    ckpt_dir = out / "checkpoints"
    for part in ("checkpoints", "samples", "metrics.jsonl", "spec.toml"):
        if (out / part).is_symlink():
            # a copied run folder must not lead --force/--resume to delete files elsewhere
            raise GanError(
                f"'{out / part}' is a symbolic link; gan only writes and deletes "
                f"files inside the run folder itself. Remove the link or choose another "
                f"--out."
            )
    existing = checkpoint.latest(ckpt_dir) if ckpt_dir.is_dir() else None
    if resume:
        if existing is None:
            raise CheckpointError(
                f"--resume: no checkpoint in '{ckpt_dir}'. Start a new run without "
                f"--resume, or point --out at the folder of the run to continue."
            )
        return existing
    holds_run = any((out / n).exists() for n in ("spec.toml", "metrics.jsonl"))
    if (holds_run or existing is not None) and not force:
        raise GanError(
            f"Output folder '{out}' already holds a run. Add --resume to continue "
            f"it, --force to overwrite it, or choose another --out."
        )
    try:
        for sub in ("", "checkpoints", "samples"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        if force:
            for old in checkpoint.list_checkpoints(ckpt_dir):
                old.unlink()
            (ckpt_dir / checkpoint.LATEST).unlink(missing_ok=True)
            (ckpt_dir / BEST).unlink(missing_ok=True)
            (out / "metrics.jsonl").unlink(missing_ok=True)
            for old in (out / "samples").glob("step_*.png"):
                old.unlink()  # grids of the overwritten run would pass for this one's
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise GanError(
            f"Cannot write to output folder '{out}': {exc.strerror or exc}. "
            f"Choose a writable --out."
        ) from None
    return None


def truncate_metrics(out: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from (they will be
    written again), so metrics.jsonl stays one line per logged step."""
    path = out / "metrics.jsonl"
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except (ValueError, AttributeError, TypeError, RecursionError):
            continue  # a line cut short by the kill (or not written by gan)
    checkpoint.atomic_write_bytes(path, "".join(f"{line}\n" for line in keep).encode())


def check_resume_spec(
    spec: Spec, meta: dict[str, str], path: Path, out: Path, *, force: bool
) -> None:
    """Refuse (unless ``force``) to resume a checkpoint written by a different spec, but
    for the keys in :data:`RESUMABLE_CHANGES`."""
    old = stored_spec(meta, path)
    diffs = spec_differences(old, spec.canonical())
    if diffs and not force:
        raise CheckpointError(
            f"Checkpoint '{path}' was written by a different spec: "
            f"{', '.join(diffs[:10])} differ. Resume with the run's own spec "
            f"('{out / 'spec.toml'}'), or add --force to resume anyway."
        )
