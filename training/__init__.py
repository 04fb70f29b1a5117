"""Services around the engine: the trainer and its events, checkpoints, restore and
distributed runs."""
