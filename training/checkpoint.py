"""Checkpoints: one ``.safetensors`` file holding every network, every optimizer state,
the step, all random-number streams and the resolved spec (in the metadata).

Never pickle: safetensors stores raw tensors and a JSON header, so loading a file can
never run code. Writes are atomic (temporary file, fsync, rename) and the ``latest``
pointer is updated last, so a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from gan.core.errors import CheckpointError

FORMAT = "gan-checkpoint/1"
LATEST = "latest"
PATTERN = re.compile(r"step_(\d+)\.safetensors$")


BEST = "best.safetensors"  # kept beside the step checkpoints, never rotated away


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_name(path: Path) -> Path:
    """A per-process temporary name, so two processes writing one file never share it."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = _tmp_name(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def save(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write a checkpoint atomically. Raises CheckpointError on a filesystem problem."""
    from safetensors.torch import save

    path = Path(path)
    meta = {"format": FORMAT, **metadata}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, save(tensors, metadata=meta))
    except OSError as exc:
        _tmp_name(path).unlink(missing_ok=True)
        raise CheckpointError(
            f"Cannot write checkpoint '{path}': {exc.strerror or exc}. Free disk space or "
            f"choose a writable --out folder; earlier checkpoints are untouched."
        ) from None
    return path


PICKLE_PROTOCOLS = (b"\x02", b"\x03", b"\x04", b"\x05")


def looks_like_pickle(path: Path) -> bool:
    """A pickle (byte 0x80, then a protocol number) or a torch.save zip ("PK\\3\\4").

    A safetensors file starts with its header's length (8 bytes, little endian) and then
    "{"; that length's first byte can be 0x80 too (1 file in 256), so a well-formed
    safetensors prefix is recognised first.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as exc:
        raise CheckpointError(f"Cannot read checkpoint '{path}': {exc.strerror or exc}.") from None
    header_end = 8 + int.from_bytes(head[:8], "little")
    if len(head) == 9 and head[8:9] == b"{" and header_end <= path.stat().st_size:
        return False
    is_pickle = head[:1] == b"\x80" and head[1:2] in PICKLE_PROTOCOLS
    return is_pickle or head[:4] == b"PK\x03\x04"


def load(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a checkpoint safely: never executes anything, validates the format."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = latest(path) or path
    if not path.is_file():
        raise CheckpointError(f"Checkpoint '{path}' does not exist.")
    if looks_like_pickle(path):
        raise CheckpointError(
            f"'{path}' is a pickle/torch.save file, not a safetensors checkpoint. gan never "
            f"loads pickles (they can run arbitrary code). Use a checkpoint written by gan."
        )
    try:
        tensors = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                tensors[key] = f.get_tensor(key)
    except Exception as exc:
        raise CheckpointError(
            f"'{path}' is not a readable safetensors checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'corrupt'}). It may be truncated or "
            f"corrupted; use an earlier checkpoint from the same folder."
        ) from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path}' is a safetensors file but not a gan checkpoint (no '{FORMAT}' "
            f"metadata). Use a checkpoint written by `gan run`."
        )
    return tensors, metadata


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.safetensors"


def list_checkpoints(folder: Path) -> list[Path]:
    """Step checkpoints in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := PATTERN.search(p.name))]
    return [p for _, p in sorted(found)]


def latest(folder: Path) -> Path | None:
    """The newest complete checkpoint: the ``latest`` pointer if valid, else the newest."""
    folder = Path(folder)
    if (folder / "checkpoints").is_dir():
        folder = folder / "checkpoints"
    target = _pointer_target(folder)
    if target is not None and target.is_file():
        return target
    found = list_checkpoints(folder)
    return found[-1] if found else None


def _pointer_target(folder: Path) -> Path | None:
    """The checkpoint the ``latest`` pointer names, if it names one *in this folder*.

    The pointer may come from elsewhere (a copied run folder): only a plain file name of a
    checkpoint is followed — never a path leading out of the folder, a huge or binary file.
    """
    pointer = folder / LATEST
    try:
        if not pointer.is_file():
            return None
        with open(pointer, "rb") as f:
            name = f.read(256).decode("utf-8", errors="replace").strip()
    except OSError:
        return None
    return folder / name if PATTERN.fullmatch(name) else None  # step_N.safetensors only


def commit(folder: Path, path: Path, keep: int, protect: tuple[str, ...] = ("best",)) -> None:
    """Point ``latest`` at ``path`` and delete all but the newest ``keep`` checkpoints."""
    atomic_write_bytes(folder / LATEST, path.name.encode())
    for old in list_checkpoints(folder)[:-keep]:
        if not any(old.name.startswith(p) for p in protect):
            old.unlink(missing_ok=True)
