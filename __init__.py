"""gan — a declarative, plugin-based GAN framework.

A TOML spec names latent samplers, networks, a graph of named tensors, weighted loss
terms and optimizer phases; the engine (:mod:`gan.core`) runs them. The package is
layered (docs/architecture.md): :mod:`gan.core` (the kernel), :mod:`gan.training`,
:mod:`gan.evaluation`, :mod:`gan.components` (built-in components), :mod:`gan.plugins`
(the models) and :mod:`gan.tools`. Plugin authors import from :mod:`gan.api`.
"""

from gan import _compat

__version__ = "0.1.0"

_compat.install()
