"""Helpers shared by the tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
MNIST = REPO.parent / "shared" / "data" / "mnist"


def read_spec(name: str) -> dict:
    """A shipped spec as a plain dict (to mutate in tests)."""
    return tomllib.loads((SPECS / f"{name}.toml").read_text())
