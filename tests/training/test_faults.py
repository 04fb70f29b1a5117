"""Signals, unwritable folders and full disks: clear messages, nothing lost."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from gan.cli import app
from gan.core.errors import CheckpointError
from gan.testing import tiny_engine
from gan.training import checkpoint, state

ARGS = [
    "--set",
    "data.source=digits",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.steps=100000",
    "--set",
    "train.checkpoint_every=100000",
    "--set",
    "train.log_every=10",  # metrics.jsonl soon: the tests wait for it (unset: every 1,000)
    "--set",
    "networks.G.hidden=64",
    "--set",
    "networks.E.hidden=64",
    "--set",
    "networks.D.hidden=64",
    "--quiet",
]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_checkpoint_and_exits(tmp_path, signum, code):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gan", "run", "bigan", "--out", str(out), *ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while not (out / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # training is under way
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err.decode()
    assert "Traceback" not in err.decode() and "--resume" in err.decode()
    latest = checkpoint.latest(out / "checkpoints")
    assert latest is not None
    _, meta = checkpoint.load(latest)
    assert int(meta["step"]) > 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    result = CliRunner().invoke(app, ["run", "bigan", "--out", str(locked / "run"), *ARGS[:4]])
    assert result.exit_code == 2 and "writable" in result.output


def test_output_path_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "bigan",
            "--out",
            str(blocker / "run"),
            "--set",
            "data.source=digits",
            "--set",
            "train.steps=1",
            "--quiet",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "Cannot write" in result.output and "Traceback" not in result.output


def test_full_disk_keeps_previous_checkpoint(tmp_path, monkeypatch):
    engine = tiny_engine("bigan")
    folder = tmp_path / "checkpoints"
    tensors, meta = state.state_tensors(engine)
    first = checkpoint.save(folder / checkpoint.checkpoint_name(1), tensors, meta)
    checkpoint.commit(folder, first, keep=3)
    before = first.read_bytes()

    real_write = checkpoint.os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", full)
    with pytest.raises(CheckpointError, match="No space left"):
        checkpoint.save(folder / checkpoint.checkpoint_name(2), tensors, meta)
    monkeypatch.setattr(checkpoint.os, "fsync", real_write)
    assert first.read_bytes() == before
    assert checkpoint.latest(folder) == first
    assert not list(folder.glob(".*.tmp")), "temporary file left behind"
