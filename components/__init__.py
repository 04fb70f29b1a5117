"""Built-in generic components (samplers, ops, optimizers, losses, data sources, metrics).

Each module is a plugin registered through the same hooks as a third-party one."""
