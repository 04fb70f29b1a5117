"""The component registry, filled through pluggy hooks.

``Registry.load()`` adds the component hooks (:mod:`gan.core.hooks`), then the built-in
hook specifications and plugins (handed to the kernel by the package's composition root,
:mod:`gan.core.builtins`), then every plugin advertised in the
``gan.plugins`` entry-point group. A third-party plugin that fails to import or register
is recorded in :attr:`Registry.failures` (and shown by ``gan plugins``) instead of taking
the others down with it; a broken built-in is a broken installation, a
:class:`~gan.core.errors.PluginError`.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TypeVar

import pluggy

from gan.core import builtins, hooks
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
BUILT_IN = "built-in"

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
    shipped: set[str] = field(default_factory=set)  # the built-in plugins' names

    # -- construction -------------------------------------------------------------
    @classmethod
    def load(cls, extra: Iterable[ModuleType | object] = (), entry_points: bool = True):
        """Build a registry from the built-ins, entry points and ``extra`` plugins."""
        pm = pluggy.PluginManager(hooks.PROJECT)
        pm.add_hookspecs(hooks.GanHookSpecs)
        reg = cls(manager=pm)
        reg._register_builtins()
        if entry_points:
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                dist = ep.dist.name if ep.dist is not None else "?"
                reg._register_entry_point(ep, origin=f"entry point '{ep.name}' ({dist})")
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
        reg._check_builtins()
        return reg

    def _register_builtins(self) -> None:
        """The built-in hook specifications and plugins; any error here is raised."""
        try:
            shipped = builtins.load()
        except Exception as exc:
            raise PluginError(
                f"a built-in plugin of gan failed to import ({type(exc).__name__}: {exc}). "
                f"The installation is broken: reinstall gan (`gan --traceback plugins` "
                f"shows where)."
            ) from exc
        for spec in shipped.hookspecs:
            self.manager.add_hookspecs(spec)
        for module in shipped.plugins:
            if self.manager.is_registered(module):
                continue
            try:
                self.manager.register(module, name=module.__name__)
            except Exception as exc:
                raise PluginError(
                    f"the built-in plugin '{module.__name__}' failed to register "
                    f"({type(exc).__name__}: {exc})."
                ) from exc
            self.origins[module.__name__] = BUILT_IN
            self.shipped.add(module.__name__)

    def _register_entry_point(self, ep: importlib.metadata.EntryPoint, origin: str) -> None:
        if self.manager.has_plugin(ep.value):
            return
        try:
            module = ep.load()
            self.manager.register(module, name=ep.value)
        except Exception as exc:  # a broken plugin must not take the others down
            self.failures[ep.value] = f"{type(exc).__name__}: {exc}"
            return
        self.origins[ep.value] = origin

    def _check_builtins(self) -> None:
        """A built-in that failed its hooks (a typo'd hookimpl, a raising or clashing
        declaration) is a bug of gan itself: an error, not an entry in ``failures``."""
        broken = {name: why for name, why in self.failures.items() if name in self.shipped}
        if broken:
            raise PluginError(
                "built-in plugin failed: "
                + "; ".join(f"'{name}': {why}" for name, why in broken.items())
            )

    def _check_pending(self) -> None:
        """A ``@hookimpl`` whose name is no hook (a typo: ``gan_network``) would register
        nothing and say nothing: its plugin is recorded as failed, with a did-you-mean,
        and unregistered. Then pluggy's own ``check_pending()`` must pass."""
        callers = {
            name: caller
            for name, caller in vars(self.manager.hook).items()
            if isinstance(caller, pluggy.HookCaller)
        }
        known_hooks = [name for name, caller in callers.items() if caller.has_spec()]
        for name, caller in callers.items():
            if caller.has_spec():
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
