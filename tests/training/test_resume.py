"""Exact resume: a run killed with SIGKILL and resumed ends bit-identical to a run that
was never interrupted (same spec, same seed, CPU)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gan.training import checkpoint

STEPS = 400
ARGS = [
    "--set",
    "eval.batchnorm_batches=4",  # bigan: 1,000 in its recipe
    "--set",
    "eval.metrics.samples.n=500",  # and 10,000 samples for the judge
    "--set",
    "data.source=digits",
    "--set",
    f"train.steps={STEPS}",
    "--set",
    "train.checkpoint_every=10",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.log_every=10",
    "--set",
    "train.sample_every=1000",
    "--set",
    "networks.G.hidden=128",
    "--set",
    "networks.E.hidden=128",
    "--set",
    "networks.D.hidden=128",
    "--quiet",
]


def gan(*args: str, env=None) -> subprocess.Popen:
    """``gan run bigan`` with ARGS, then ``args`` (a later ``--set`` wins)."""
    return subprocess.Popen(
        [sys.executable, "-m", "gan", "run", "bigan", *ARGS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def final_networks(out: Path) -> dict:
    tensors, meta = checkpoint.load(checkpoint.latest(out / "checkpoints"))
    assert int(meta["step"]) == STEPS
    return {k: v for k, v in tensors.items() if k.startswith(("net.", "optim."))}


@pytest.mark.parametrize("signum", [signal.SIGKILL])
def test_sigkill_then_resume_is_bit_identical(tmp_path, signum):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = gan("--out", str(tmp_path / "whole"), env=env)
    victim = gan("--out", str(tmp_path / "victim"), env=env)
    ckpts = tmp_path / "victim" / "checkpoints"
    deadline = time.time() + 120
    while not checkpoint.list_checkpoints(ckpts) and time.time() < deadline:
        time.sleep(0.05)
    assert checkpoint.list_checkpoints(ckpts), victim.communicate()[1].decode()
    time.sleep(random.uniform(0.0, 0.8))  # a random step after the first checkpoint
    victim.send_signal(signum)
    victim.wait()
    killed_at = int(checkpoint.load(checkpoint.latest(ckpts))[1]["step"])
    assert killed_at < STEPS, "the run finished before it could be killed; make it longer"

    resumed = gan("--out", str(tmp_path / "victim"), "--resume", env=env)
    assert resumed.wait(timeout=900) == 0, resumed.communicate()[1].decode()
    assert whole.wait(timeout=900) == 0, whole.communicate()[1].decode()

    a, b = final_networks(tmp_path / "whole"), final_networks(tmp_path / "victim")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].equal(b[key]), f"{key} differs after resume (killed at {killed_at})"
    records = [
        json.loads(line)
        for line in (tmp_path / "victim" / "metrics.jsonl").read_text().splitlines()
    ]
    # two streams: training log lines, and [eval] lines (bigan evaluates at its last step)
    for kind in ("log", "eval"):
        steps = [r["step"] for r in records if ("split" in r) == (kind == "eval")]
        assert steps == sorted(set(steps)), (
            f"metrics.jsonl has duplicated or unordered {kind} steps"
        )


def test_resume_with_changed_spec_is_refused(tmp_path):
    """In-process (the CLI's own entry): three runs without three interpreters' start."""
    from typer.testing import CliRunner

    from gan.cli import app

    out = tmp_path / "run"
    # a finished run is enough to resume from; its evaluation is not needed
    short = [
        "run",
        "bigan",
        *ARGS,
        "--out",
        str(out),
        "--set",
        "train.steps=20",
        "--set",
        "eval={}",
    ]

    def run(*more: str):
        return CliRunner().invoke(app, [*short, *more])

    assert run().exit_code == 0
    lr = ("--set", "phases.discriminator.optimizer.lr=0.1")
    changed = run("--resume", *lr)
    assert changed.exit_code == 2
    assert "phases.discriminator.optimizer.lr" in changed.output
    forced = run("--resume", "--force", *lr)
    assert forced.exit_code == 0, forced.output
