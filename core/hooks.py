"""Plugin hook specifications.

A plugin is any module (or object) with functions marked ``@hookimpl`` whose names match
the specs below. Each hook returns a list of component declarations (see
:mod:`gan.core.components`). Built-in models register exactly like third-party ones; the
latter are found through the ``gan.plugins`` entry-point group, as pytest finds
``pytest11`` plugins.

Example::

    from gan.core.hooks import hookimpl
    from gan.core.components import Network

    @hookimpl
    def gan_networks():
        return [Network("my.generator", MyGenerator, MyGeneratorParams)]
"""

from __future__ import annotations

import pluggy

PROJECT = "gan"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class GanHookSpecs:
    """The hooks a plugin may implement. Each returns a list of components."""

    @hookspec
    def gan_networks(self) -> list:
        """Return :class:`~gan.core.components.Network` declarations."""

    @hookspec
    def gan_samplers(self) -> list:
        """Return :class:`~gan.core.components.Sampler` declarations (latent priors)."""

    @hookspec
    def gan_losses(self) -> list:
        """Return :class:`~gan.core.components.Loss` declarations (pure tensor functions)."""

    @hookspec
    def gan_ops(self) -> list:
        """Return :class:`~gan.core.components.Op` declarations usable in ``[graph]``."""

    @hookspec
    def gan_data_sources(self) -> list:
        """Return :class:`~gan.core.components.DataSource` declarations."""

    @hookspec
    def gan_optimizers(self) -> list:
        """Return :class:`~gan.core.components.Optimizer` declarations."""

    @hookspec
    def gan_metrics(self) -> list:
        """Return :class:`~gan.core.components.Metric` declarations for ``[eval]``."""
