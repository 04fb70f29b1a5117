"""The built-in plugins, as the kernel receives them: it cannot name them.

The built-in components, models and the trainer's own callbacks and event hooks live in
the layers above the kernel, which imports nothing from those layers (docs/architecture.md).
So the package's composition root, ``gan/__init__.py``, hands the kernel a function that
imports and returns them (:func:`provide`); the registry calls it when it first loads
(:func:`load`), so that ``import gan`` stays light and import-linter sees every edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Builtins:
    """The plugin modules shipped with gan, and the event hook specifications (the
    engine's and the trainer's), all registered before any other plugin."""

    plugins: tuple[ModuleType, ...] = ()
    hookspecs: tuple[type, ...] = ()


_provider: Callable[[], Builtins] | None = None


def provide(provider: Callable[[], Builtins]) -> None:
    """Name the function that returns the built-ins (called by the composition root)."""
    global _provider
    _provider = provider


def load() -> Builtins:
    """The built-ins, imported now; none when no composition root provided them.

    An error importing one propagates: a broken built-in is a broken installation, not a
    plugin to skip (the registry reports it as a :class:`~gan.core.errors.PluginError`)."""
    return _provider() if _provider is not None else Builtins()
