"""User-facing errors.

Every problem a user can cause (a typo in a spec, a missing data folder, a corrupt
checkpoint, a NaN loss) is raised as a :class:`GanError`. The CLI prints its message as one
paragraph and exits with code 2; it never shows a traceback for these.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GanError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    exit_code = 2


class SpecError(GanError):
    """The spec is malformed or refers to something that does not exist."""


class DataError(GanError):
    """The data source cannot be loaded."""


class CheckpointError(GanError):
    """A checkpoint cannot be read, or does not belong to this spec."""


class PluginError(GanError):
    """A plugin failed to import or to register its components."""


class TrainingError(GanError):
    """Training cannot continue (e.g. a loss became NaN)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for a close match, else ``""``."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def known(choices: Iterable[str]) -> str:
    """A short, sorted list of valid names for an error message."""
    names = sorted(str(c) for c in choices)
    if not names:
        return "(none)"
    shown = ", ".join(f"'{n}'" for n in names[:20])
    return shown + (f", … ({len(names)} in all)" if len(names) > 20 else "")
