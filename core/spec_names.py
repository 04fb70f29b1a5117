"""A spec's ``name``: it names the run folder ``runs/<name>``, so it must be a plain file
name. A spec (or a checkpoint) may come from someone else: its name must not choose where
files are written or deleted."""

from __future__ import annotations

import re

NAME_MAX = 100
NAME_RULE = (
    f"letters, digits, '-', '_' and '.' only, at most {NAME_MAX} characters, not '.' or '..'"
)
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.-]+")


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
