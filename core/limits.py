"""Numeric limits a spec and the command line are held to, in one place.

Each is far beyond what a real spec or machine needs, and small enough that nothing
downstream overflows, hangs or allocates without bound: Python's int-string conversion
limit, torch's 64-bit seeds, a process per core.
"""

from __future__ import annotations

import os

SEED_MAX = 2**63 - 1
"""Seeds are 0 … 2**63 − 1: torch's generators take a 64-bit seed; 2**70 overflowed."""

MAX_INT_DIGITS = 18
"""Digits of an integer in a ``${…}`` sum: a size is at most a few thousand; Python
refuses to convert strings of more than 4,300 digits with a traceback."""


def max_processes() -> int:
    """Training processes one machine can run: one per CPU core (the CPU backend), or
    one per GPU where there are more GPUs than cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = 0
    try:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return max(1, cores or 1, gpus)
