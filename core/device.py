"""Where a run computes, and how the process-wide random generators are seeded."""

from __future__ import annotations

import random

import numpy as np
import torch

from gan.core.errors import SpecError


def pick_device(name: str) -> torch.device:
    """``train.device``: ``auto`` is a CUDA GPU where one exists, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError(
            "train.device = 'cuda' but no CUDA GPU is available here. Use --device cpu (or auto)."
        )
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
