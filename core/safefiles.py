"""Reading from a run folder and writing an output file, safely.

A run folder may come from someone else (copied, downloaded, shared): a file in it may be
a symlink to a file elsewhere, a named pipe, a device, or far larger than anything `gan`
writes. A command that reads a run folder (`gan report`, `gan compare`, …) must not leak
a file from outside it into its output, hang on a pipe, or read ``/dev/zero`` forever.
And a command that writes an output (``--out``) must only ever replace a regular file:
renaming over a device node or a pipe would destroy it (as root, ``/dev/null``).

Every read here is: a regular file, whose real path lies inside the folder, opened
without blocking (a pipe opens at once and is then refused), read with a size cap.
Every write is: a temporary file beside the target with a name no other process uses,
renamed over the target only when the target is a regular file or absent.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from gan.core.errors import GanError

MiB = 1 << 20
TEXT_CAP = 512 * MiB  # metrics.jsonl of a long run: refuse anything larger
SMALL_CAP = 16 * MiB  # run.json, spec.toml, a sample grid


def inside(folder: Path, path: Path) -> bool:
    """Whether ``path``'s real location (links followed) lies inside ``folder``'s."""
    root = os.path.realpath(folder)
    real = os.path.realpath(path)
    try:
        return os.path.commonpath([root, real]) == root
    except ValueError:  # different drives (Windows)
        return False


def regular_inside(folder: Path, path: Path) -> bool:
    """A regular file (links followed) inside ``folder``: what a listing may show."""
    try:
        return inside(folder, path) and stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def read_inside(folder: Path, path: Path, cap: int = SMALL_CAP) -> bytes | None:
    """The bytes of ``path`` (a file of the run folder ``folder``); ``None`` when it does
    not exist. A GanError naming the file when it leads out of the folder, is not a
    regular file, is larger than ``cap`` bytes or cannot be read."""
    if not os.path.lexists(path):
        return None
    if not inside(folder, path):
        raise GanError(
            f"'{path}' is a link to a file outside the run folder '{folder}'; gan reads "
            f"only the run's own files. Replace the link by a copy of the file, or remove it."
        )
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(os.path.realpath(path), flags)
    except FileNotFoundError:
        return None  # a dangling link, or removed meanwhile
    except OSError as exc:
        raise GanError(
            f"Cannot read '{path}': {exc.strerror or exc}. Check the file's permissions."
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GanError(
                f"'{path}' is not a regular file (a folder, pipe, device or socket); a run "
                f"folder holds only files gan wrote. Remove it or give another run folder."
            )
        if info.st_size > cap:
            raise GanError(_too_large(path, cap))
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, min(cap + 1 - size, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:  # grew while being read
            raise GanError(_too_large(path, cap))
        return b"".join(chunks)
    except OSError as exc:
        raise GanError(f"Cannot read '{path}': {exc.strerror or exc}.") from None
    finally:
        os.close(fd)


def _too_large(path: Path, cap: int) -> str:
    return (
        f"'{path}' is larger than {cap // MiB} MiB, far more than gan writes there; it is "
        f"not a file of this run. Move it away or give another run folder."
    )


def check_output(target: Path) -> None:
    """Refuse an output path that exists and is not a regular file (a device, a pipe, a
    socket, a folder, or a symlink, which would be replaced rather than followed)."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise GanError(
            f"Cannot write '{target}': {exc.strerror or exc}. Choose a path in an existing, "
            f"writable folder."
        ) from None
    if stat.S_ISREG(mode):
        return
    what = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a symbolic link"
        if stat.S_ISLNK(mode)
        else "a device, pipe or socket"
    )
    raise GanError(
        f"'{target}' is {what}, not a regular file; gan writes only a new file or over a "
        f"regular one. Choose another path, e.g. a file name ending in .html."
    )


def write_output(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically: a uniquely named temporary file in the
    same folder, then a rename, done only when ``target`` is a regular file or absent.
    OSError is left to the caller, which knows what to suggest."""
    target = Path(target)
    check_output(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check_output(target)  # changed meanwhile?
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
