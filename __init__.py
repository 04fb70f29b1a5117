"""gan — a declarative, plugin-based GAN framework.

A TOML spec names latent samplers, networks, a graph of named tensors, weighted loss
terms and optimizer phases; the engine (:mod:`gan.core`) runs them. The package is
layered (docs/architecture.md): :mod:`gan.core` (the kernel), :mod:`gan.training`,
:mod:`gan.evaluation`, :mod:`gan.components` (built-in components), :mod:`gan.plugins`
(the models) and :mod:`gan.tools`. Plugin authors import from :mod:`gan.api`.

This module is the package's composition root: the kernel names nothing above it, so
the built-in plugins (generic components, the trainer's callbacks, the models) and the
event hook specifications (the engine's and the trainer's) are handed to the kernel's
registry from here. They are imported when the first registry loads, not on
``import gan`` (which stays free of torch).
"""

from gan._version import __version__
from gan.core import builtins as _kernel_builtins

__all__ = ["__version__"]


def _builtins() -> _kernel_builtins.Builtins:
    """The modules shipped with gan, registered through the very same hooks as third-party
    plugins. They are named here rather than as entry points so that a stale install's
    metadata can never hide a built-in model."""
    from gan.components import data, losses, metrics, ops, optimizers, samplers
    from gan.core.events import GanEngineSpecs
    from gan.evaluation import callbacks as evaluation_callbacks
    from gan.plugins import aae, bigan, blocks, cgan, clustergan, conv, infogan
    from gan.training import callbacks as training_callbacks
    from gan.training.events import GanEventSpecs

    return _kernel_builtins.Builtins(
        plugins=(
            samplers,
            ops,
            optimizers,
            losses,
            data,
            metrics,
            # the trainer's own logging, checkpoints, samples and evaluation (event hooks)
            training_callbacks,
            evaluation_callbacks,
            blocks,
            conv,
            bigan,
            clustergan,
            infogan,
            aae,
            cgan,
        ),
        hookspecs=(GanEngineSpecs, GanEventSpecs),
    )


_kernel_builtins.provide(_builtins)
