"""The component registry, filled through pluggy hooks.

``Registry.load()`` registers the built-in components, the built-in model plugins and
every plugin advertised in the ``gan.plugins`` entry-point group. A plugin that fails to
import or register is recorded in :attr:`Registry.failures` (and shown by
``gan plugins``) instead of taking the others down with it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TypeVar

import pluggy

from gan.core import hooks
from gan.core.components import (
    Component,
    DataSource,
    Loss,
    Metric,
    Network,
    Op,
    Optimizer,
    Sampler,
)
from gan.core.errors import PluginError, SpecError, did_you_mean, known

ENTRY_POINT_GROUP = "gan.plugins"

# Modules shipped with gan. They register through the very same hooks as third-party
# plugins; they are listed here rather than as entry points so that a stale install's
# metadata can never hide a built-in model.
BUILTIN_PLUGINS = (
    "gan.components.samplers",
    "gan.components.ops",
    "gan.components.optimizers",
    "gan.components.losses",
    "gan.components.data",
    "gan.components.metrics",
    # the trainer's own logging, checkpoints, samples and evaluation (event hooks)
    "gan.training.callbacks",
    "gan.evaluation.callbacks",
    "gan.plugins.blocks",
    "gan.plugins.conv",
    "gan.plugins.bigan",
    "gan.plugins.clustergan",
    "gan.plugins.infogan",
    "gan.plugins.aae",
    "gan.plugins.cgan",
)

# hook name -> the component class it must return
HOOK_KINDS: dict[str, type[Component]] = {
    "gan_networks": Network,
    "gan_samplers": Sampler,
    "gan_losses": Loss,
    "gan_ops": Op,
    "gan_data_sources": DataSource,
    "gan_optimizers": Optimizer,
    "gan_metrics": Metric,
}

C = TypeVar("C", bound=Component)


@dataclass
class Entry:
    component: Component
    plugin: str


@dataclass
class Registry:
    """All registered components, by kind and by name, with the plugin that gave each."""

    manager: pluggy.PluginManager
    entries: dict[type[Component], dict[str, Entry]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    # -- construction -------------------------------------------------------------
    @classmethod
    def load(cls, extra: Iterable[ModuleType | object] = (), entry_points: bool = True):
        """Build a registry from the built-ins, entry points and ``extra`` plugins."""
        pm = pluggy.PluginManager(hooks.PROJECT)
        pm.add_hookspecs(hooks.GanHookSpecs)
        pm.add_hookspecs(hooks.GanEventSpecs)
        reg = cls(manager=pm)
        for module_name in BUILTIN_PLUGINS:
            reg._register_module(module_name, origin="built-in")
        if entry_points:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                dist = ep.dist.name if ep.dist is not None else "?"
                reg._register_module(ep.value, origin=f"entry point '{ep.name}' ({dist})")
        for plugin in extra:
            name = getattr(plugin, "__name__", repr(plugin))
            if pm.is_registered(plugin):
                continue
            try:
                pm.register(plugin, name=name)
            except Exception as exc:
                reg.failures[name] = f"{type(exc).__name__}: {exc}"
                continue
            reg.origins[name] = "registered in code"
        reg._check_pending()
        reg._collect()
        return reg

    def _register_module(self, module_name: str, origin: str) -> None:
        if self.manager.has_plugin(module_name):
            return
        try:
            module = importlib.import_module(module_name)
            self.manager.register(module, name=module_name)
        except Exception as exc:  # a broken plugin must not take the others down
            self.failures[module_name] = f"{type(exc).__name__}: {exc}"
            return
        self.origins[module_name] = origin

    def _check_pending(self) -> None:
        """A ``@hookimpl`` whose name is no hook (a typo: ``gan_network``) would register
        nothing and say nothing: its plugin is recorded as failed, with a did-you-mean,
        and unregistered. Then pluggy's own ``check_pending()`` must pass."""
        known_hooks = [
            name
            for spec in (hooks.GanHookSpecs, hooks.GanEventSpecs)
            for name in vars(spec)
            if name.startswith("gan_")
        ]
        for name, caller in list(vars(self.manager.hook).items()):
            if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                self.failures[impl.plugin_name] = (
                    f"@hookimpl '{name}' is not a gan hook.{did_you_mean(name, known_hooks)} "
                    f"The hooks are: {known(known_hooks)}."
                )
                if self.manager.is_registered(impl.plugin):
                    self.manager.unregister(impl.plugin)
                self.origins.pop(impl.plugin_name, None)
        self.manager.check_pending()

    def _collect(self) -> None:
        """Call every component hook through pluggy, one plugin at a time, so that each
        declaration is credited to its plugin and a raising plugin fails alone."""
        self.entries = {kind: {} for kind in HOOK_KINDS.values()}
        plugins = self.manager.get_plugins()
        for hook_name, kind in HOOK_KINDS.items():
            hook = getattr(self.manager.hook, hook_name)
            for impl in hook.get_hookimpls():
                plugin = impl.plugin_name
                others = [p for p in plugins if p is not impl.plugin]
                try:
                    caller = self.manager.subset_hook_caller(hook_name, remove_plugins=others)
                    declared = [c for result in caller() for c in (result or [])]
                    for comp in declared:
                        self._add(kind, comp, plugin)
                except PluginError as exc:
                    self.failures[plugin] = str(exc)
                except Exception as exc:
                    self.failures[plugin] = f"{hook_name} raised {type(exc).__name__}: {exc}"

    def _add(self, kind: type[Component], comp: Component, plugin: str) -> None:
        if not isinstance(comp, kind):
            raise PluginError(
                f"{kind.kind} hook returned {comp!r}, which is not a {kind.__name__} declaration."
            )
        table = self.entries[kind]
        if comp.name in table:
            other = table[comp.name].plugin
            raise PluginError(
                f"{kind.kind} type '{comp.name}' is registered by both '{other}' and "
                f"'{plugin}'. Rename one of them (plugins usually prefix names: 'mymodel.G')."
            )
        table[comp.name] = Entry(comp, plugin)

    # -- lookup -------------------------------------------------------------------
    def get(self, kind: type[C], name: str, where: str) -> C:
        """The component ``name`` of ``kind``; a SpecError naming ``where`` if absent."""
        table = self.entries.get(kind, {})
        if name in table:
            return table[name].component  # type: ignore[return-value]
        raise SpecError(
            f"{where}: unknown {kind.kind} type '{name}'.{did_you_mean(name, table)} "
            f"Registered {kind.kind} types: {known(table)}. Run `gan plugins` to see every "
            f"component and the plugin it comes from."
        )

    def names(self, kind: type[Component]) -> list[str]:
        return sorted(self.entries.get(kind, {}))

    def all(self, kind: type[Component]) -> list[Entry]:
        return [self.entries[kind][n] for n in self.names(kind)]


_DEFAULT: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry (built once, on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Registry.load()
    return _DEFAULT
