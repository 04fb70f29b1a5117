"""The built-in plugins come from the package's composition root (``gan/__init__.py``),
not from names in the kernel; a broken built-in is an error (with its traceback under
``gan --traceback``), never a skipped plugin."""

from __future__ import annotations

import types

import pytest
from typer.testing import CliRunner

from gan.api import hookimpl
from gan.cli import app
from gan.core import builtins, registry
from gan.core.errors import PluginError
from gan.core.registry import Registry


def test_the_built_ins_are_the_composition_roots():
    shipped = builtins.load()
    names = {m.__name__ for m in shipped.plugins}
    assert {"gan.plugins.bigan", "gan.components.losses", "gan.training.callbacks"} <= names
    reg = Registry.load(entry_points=False)
    assert reg.shipped == names and reg.failures == {}
    assert all(reg.origins[name] == "built-in" for name in names)
    # the trainer's events and the engine's are specified: pluggy knows their arguments
    assert reg.manager.hook.gan_train_start.spec is not None
    assert reg.manager.hook.gan_sources_drawn.spec is not None


def _broken() -> builtins.Builtins:
    raise ImportError("no module named 'gan.plugins.gone'")


def test_a_built_in_that_fails_to_import_is_an_error(monkeypatch):
    monkeypatch.setattr(builtins, "_provider", _broken)
    with pytest.raises(PluginError, match="failed to import") as info:
        Registry.load(entry_points=False)
    assert isinstance(info.value.__cause__, ImportError)


def test_a_built_in_whose_hook_raises_is_an_error(monkeypatch):
    @hookimpl
    def gan_losses():
        raise RuntimeError("boom")

    module = types.ModuleType("gan.plugins.raising")
    module.gan_losses = gan_losses  # type: ignore[attr-defined]
    shipped = builtins.load()
    monkeypatch.setattr(
        builtins,
        "_provider",
        lambda: builtins.Builtins((*shipped.plugins, module), shipped.hookspecs),
    )
    with pytest.raises(PluginError, match=r"'gan\.plugins\.raising': gan_losses raised"):
        Registry.load(entry_points=False)
    # a third-party plugin doing the same only fails alone
    monkeypatch.setattr(builtins, "_provider", lambda: shipped)
    assert "gan.plugins.raising" in Registry.load([module], entry_points=False).failures


@pytest.mark.parametrize("flag", [[], ["--traceback"]])
def test_gan_plugins_reports_a_broken_built_in(monkeypatch, flag):
    monkeypatch.setattr(builtins, "_provider", _broken)
    monkeypatch.setattr(registry, "_DEFAULT", None)
    result = CliRunner().invoke(app, [*flag, "plugins"])
    assert result.exit_code == 2
    assert "a built-in plugin of gan failed to import" in result.output
    assert ("Traceback (most recent call last)" in result.output) == bool(flag)
