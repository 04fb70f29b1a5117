"""Helpers shared by the tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
MNIST = REPO.parent / "shared" / "data" / "mnist"


def read_spec(name: str) -> dict:
    """A shipped spec as a plain dict (to mutate in tests)."""
    return tomllib.loads((SPECS / f"{name}.toml").read_text())


def assert_short_run_writes_checkpoint(name: str, tmp_path: Path, *overrides: str) -> None:
    """Train a shipped spec for 2 steps on digits; a checkpoint and finite losses result."""
    import json
    import math

    from gan.core.spec import load_spec
    from gan.training.trainer import Trainer

    base = [
        "data.source=digits",
        "data.limit=128",
        "train.steps=2",
        "train.batch_size=8",
        "train.device=cpu",
        "train.log_every=1",
        "train.checkpoint_every=2",
        "train.sample_every=2",
        "sample.n=4",
    ]
    Trainer(load_spec(name, [*base, *overrides]), tmp_path / "run", quiet=True).run()
    assert list((tmp_path / "run" / "checkpoints").glob("*.safetensors"))
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert lines
    for line in lines:
        for key, value in json.loads(line).items():
            if isinstance(value, float):
                assert math.isfinite(value), (key, value)
