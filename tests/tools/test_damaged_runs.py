"""`gan report` and `gan compare` on run folders that were tampered with or damaged:
files that are links out of the folder, pipes, devices, huge; outputs that are not
regular files; damaged values. Each case: exit 2 with one message, or a page/table with
a warning naming the damaged field — never a traceback, a hang, or a write elsewhere."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from helpers import read_spec
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block blocks, e.g. on a named pipe."""

    def _alarm(*_):
        raise TimeoutError(f"still running after {seconds} s: it blocked")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def hand_run(folder: Path, seed: int = 0, **spec_changes) -> Path:
    """A small run folder written by hand: bigan's spec, two training lines, one eval."""
    spec = read_spec("bigan")
    spec["train"]["seed"] = seed
    spec.update(spec_changes)
    folder.mkdir(parents=True)
    (folder / "spec.toml").write_text(tomli_w.dumps(spec))
    lines = [
        {"step": 1, "time": 1.0, "steps_per_s": 10.0, "discriminator/d_real": 0.5},
        {"step": 2, "time": 2.0, "steps_per_s": 12.0, "discriminator/d_real": 0.4},
        {"step": 2, "time": 2.5, "split": "val", "eval/probe_feat/knn1_acc": 0.5},
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return folder


def clean_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


# -- outputs: only over a regular file or nothing ---------------------------------------


def test_report_out_onto_a_pipe_or_a_link_is_refused_and_left_alone(tmp_path):
    run = hand_run(tmp_path / "run")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    clean_error(runner.invoke(app, ["report", str(run), "--out", str(pipe)]), "not a regular")
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)  # not replaced by a file
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(victim)
    clean_error(runner.invoke(app, ["report", str(run), "--out", str(link)]), "symbolic link")
    assert link.is_symlink() and victim.read_text() == "keep me"


# -- reads: regular files inside the run folder, with a size cap -------------------------


@pytest.mark.parametrize("name", ["metrics.jsonl", "spec.toml"])
def test_a_pipe_in_the_run_folder_does_not_hang(tmp_path, name):
    run = hand_run(tmp_path / "run")
    (run / name).unlink()
    os.mkfifo(run / name)
    with deadline(120):
        clean_error(runner.invoke(app, ["report", str(run)]), name, "not a regular file")
        clean_error(runner.invoke(app, ["compare", str(run)]), name, "not a regular file")


@pytest.mark.parametrize("name", ["metrics.jsonl", "spec.toml"])
def test_a_link_out_of_the_run_folder_is_refused(tmp_path, name):
    run = hand_run(tmp_path / "run")
    (run / name).unlink()
    (run / name).symlink_to("/dev/zero")
    with deadline(120):
        clean_error(runner.invoke(app, ["report", str(run)]), name, "outside the run folder")


def test_a_huge_metrics_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from gan.training import runinfo

    run = hand_run(tmp_path / "run")
    monkeypatch.setattr(runinfo, "MAX_METRICS_BYTES", 64)
    clean_error(runner.invoke(app, ["report", str(run)]), "metrics.jsonl", "larger than")


def test_a_grid_linked_out_of_the_run_is_not_embedded_and_a_piped_run_json_skipped(tmp_path):
    """One report (they are slow to draw) over both: the page is written, without the
    linked file's bytes, without blocking on run.json, leaving no temporary file."""
    run = hand_run(tmp_path / "run")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG top secret contents")
    (run / "samples").mkdir()
    (run / "samples" / "step_00000002.png").symlink_to(secret)
    os.mkfifo(run / "run.json")
    with deadline(120):
        result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert base64.b64encode(secret.read_bytes()).decode() not in page
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
