"""TensorBoard logging: `[log] tensorboard = true` writes event files with every loss."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gan.cli import app


def test_tensorboard_event_files_hold_the_loss_tags(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "bigan",
            "--out",
            str(out),
            "--quiet",
            "--set",
            "data.source=digits",
            "--set",
            "eval.batchnorm_batches=4",
            "--set",
            "eval.metrics.samples.n=500",
            "--set",
            "train.steps=4",
            "--set",
            "train.batch_size=16",
            "--set",
            "train.log_every=2",
            "--set",
            "log.tensorboard=true",
        ],
    )
    assert result.exit_code == 0, result.output
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    expected = {
        "discriminator/d_real",
        "discriminator/d_fake",
        "generator/eg_real",
        "generator/eg_fake",
        "steps_per_s",
    }
    assert expected <= tags, tags
    assert [e.step for e in acc.Scalars("generator/eg_fake")] == [2, 4]
    assert "samples" in acc.Tags()["images"]
