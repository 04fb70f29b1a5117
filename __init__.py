"""gan — a declarative, plugin-based GAN framework.

A TOML spec names latent samplers, networks, a graph of named tensors, weighted loss
terms and optimizer phases; the engine (:mod:`gan.core`) runs them. Models live in
plugins (:mod:`gan.plugins`) that register components through pluggy hooks.
"""

__version__ = "0.1.0"
