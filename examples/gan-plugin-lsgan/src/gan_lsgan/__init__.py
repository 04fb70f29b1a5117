"""LSGAN for `gan`: the plugin module is :mod:`gan_lsgan.plugin`, the spec ships here."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def spec_path(name: str = "lsgan") -> Path:
    """Path of a spec shipped with this package (``gan run $(python -c ...)``)."""
    return Path(str(files(__name__) / "specs" / f"{name}.toml"))
