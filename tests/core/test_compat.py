"""Old import paths (before the package was split into layers) keep working for one
release, with a DeprecationWarning, and give the very same module; gan.api is the
public plugin API."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import gan.api
from gan import _compat


def test_old_paths_are_the_moved_modules():
    # a fresh process: no old path imported yet, so each one warns
    code = (
        "import importlib, warnings\n"
        "from gan import _compat\n"
        "for old, new in _compat.MOVED.items():\n"
        "    with warnings.catch_warnings(record=True) as w:\n"
        "        warnings.simplefilter('always')\n"
        "        module = importlib.import_module(old)\n"
        "    assert module is importlib.import_module(new), old\n"
        "    assert any(issubclass(x.category, DeprecationWarning) for x in w), old\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(_compat.MOVED) >= 13


def test_from_import_of_an_old_path():
    with pytest.warns(DeprecationWarning) if "gan.core.trainer" not in sys.modules else _none():
        from gan.core import trainer
    assert trainer is importlib.import_module("gan.training.trainer")


class _none:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_api_exports_what_it_lists():
    for name in gan.api.__all__:
        assert getattr(gan.api, name) is not None
    assert {"hookimpl", "Network", "Params", "BuildContext", "Evaluation"} <= set(gan.api.__all__)
