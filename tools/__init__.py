"""Command-line tools over the engine: ``gan inspect`` and ``gan bench``."""
