"""Old import paths, kept working for one release.

Modules moved out of ``gan.core`` when the package was split into layers (issue #13).
Importing an old path (``import gan.core.trainer``) returns the module at its new path —
the very same module object, so ``monkeypatch.setattr`` on either name acts on both —
and emits a :class:`DeprecationWarning` naming the new path. The aliases are a meta-path
finder rather than shim files so that the kernel (``gan.core``) holds no import of the
layers above it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

# old module path -> new module path (remove in the release after 0.2)
MOVED: dict[str, str] = {
    "gan.core.trainer": "gan.training.trainer",
    "gan.core.checkpoint": "gan.training.checkpoint",
    "gan.core.restore": "gan.training.restore",
    "gan.core.distributed": "gan.training.distributed",
    "gan.core.evaluate": "gan.evaluation.evaluate",
    "gan.core.metrics": "gan.evaluation.metrics",
    "gan.core.classifier": "gan.evaluation.classifier",
    "gan.core.sampling": "gan.evaluation.sampling",
    "gan.core.losses": "gan.components.losses",
    "gan.core.builtin_metrics": "gan.components.metrics",
    "gan.core.builtins": "gan.components.builtins",
    "gan.core.describe": "gan.tools.inspect",
    "gan.core.profile": "gan.tools.bench",
    "gan.core.runinfo": "gan.training.runinfo",
    "gan.core.compare": "gan.tools.compare",
    "gan.core.graphview": "gan.tools.graphview",
    "gan.core.report": "gan.tools.report",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"'{spec.name}' moved to '{self.target}'; the old path will be removed in the "
            f"next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed."""


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(MOVED[fullname]))


def install() -> None:
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
