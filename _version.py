"""The package's version, in a module of its own so that any layer may read it without
importing the package's top (``gan/__init__.py``, the composition root, which imports
every layer)."""

__version__ = "0.1.0"
