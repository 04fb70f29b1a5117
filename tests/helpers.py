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


def quick_spec(name: str, overrides: list[str]):
    """``load_spec(name, overrides)`` whose sample metrics draw 200 images: a spec's
    sample metric draws 10,000 for its judge at the last step's evaluation, and 200
    run the same code."""
    from gan.core.spec import load_spec

    spec = load_spec(name, overrides)
    quick = [
        f"eval.metrics.{metric}.n=200"
        for metric, component in spec.eval.metrics.items()
        if component.type == "sample_quality"
    ]
    return load_spec(name, [*overrides, *quick]) if quick else spec


def assert_short_run_writes_checkpoint(name: str, tmp_path: Path, *overrides: str) -> None:
    """Train a shipped spec for 2 steps on digits; a checkpoint and finite losses result."""
    import json
    import math

    from gan.training.trainer import Trainer

    base = [
        "data.source=digits",  # all of it: the judge classifier is trained on the
        "train.steps=2",  # training split, once per session, not once per data.limit
        "train.batch_size=8",
        "train.device=cpu",
        "train.log_every=1",
        "train.checkpoint_every=2",
        "train.sample_every=2",
        "sample.n=4",
    ]
    Trainer(quick_spec(name, [*base, *overrides]), tmp_path / "run", quiet=True).run()
    assert list((tmp_path / "run" / "checkpoints").glob("*.safetensors"))
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert lines
    for line in lines:
        for key, value in json.loads(line).items():
            if isinstance(value, float):
                assert math.isfinite(value), (key, value)


def tiny_gan(
    name: str,
    g: dict | None = None,
    d: dict | None = None,
    phases: tuple[str, str] = ("d", "g"),
    lr: float = 0.1,
) -> dict:
    """A two-player MLP GAN on 64 digits, as a spec dict: D's phase (d_real + d_fake),
    then G's (g_adv), SGD at ``lr``. ``g``/``d`` add network parameters; callers add
    ``train``, ``eval`` or phase keys to the dict returned."""
    return {
        "name": name,
        "data": {"source": "digits", "limit": 64},
        "samplers": {"z": {"type": "normal", "dim": 3}},
        "networks": {
            "G": {"type": "mlp", "in_features": 3, "hidden": [6], "out_features": "image"}
            | (g or {}),
            "D": {"type": "mlp", "in_features": "image", "hidden": [6]} | (d or {}),
        },
        "graph": {"x_fake": "G(z)", "d_real": "D(x)", "d_fake": "D(x_fake)"},
        "losses": {
            "d_real": {"type": "bce_logits", "input": "d_real", "target": 1},
            "d_fake": {"type": "bce_logits", "input": "d_fake", "target": 0},
            "g_adv": {"type": "bce_logits", "input": "d_fake", "target": 1},
        },
        "phases": [
            {
                "name": phases[0],
                "updates": ["D"],
                "optimizer": {"type": "sgd", "lr": lr},
                "losses": {"d_real": 1.0, "d_fake": 1.0},
            },
            {
                "name": phases[1],
                "updates": ["G"],
                "optimizer": {"type": "sgd", "lr": lr},
                "losses": {"g_adv": 1.0},
            },
        ],
    }
