"""Reading a spec file: finding it (a path, or a shipped spec's short name), reading its
bytes with bounds, and parsing TOML — any problem a :class:`~gan.core.errors.SpecError`
naming the file, never a hang or a traceback."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from gan.core.errors import SpecError, did_you_mean

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"

# Bounds on what a spec (a file, a checkpoint's stored spec, --set values) may be.
MAX_SPEC_BYTES = 1 << 20  # a spec is a small text file; shipped ones are a few KiB
MAX_DEPTH = 32  # nested tables/arrays; shipped specs need 5


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
        raise SpecError(too_deep(source)) from None
    check_depth(data, source)
    return data


def too_deep(source: str, where: str = "") -> str:
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
            raise SpecError(too_deep(source, f"'{shown}'"))
        stack.extend((child, depth + 1, path) for child, path in children)
