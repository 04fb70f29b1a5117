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


# -- damaged values: a page or a table with a warning naming the field ------------------


def damage(run: Path) -> None:
    """NaN and overflowing values, a `$…$` phase name (matplotlib's math mode), run.json
    sessions as an object: every kind the report and the comparison once tripped on."""
    lines = [
        {"step": 1, "time": float("nan"), "steps_per_s": 10.0, "$x^$/d_real": 0.5},
        {"step": 2, "time": 2.0, "steps_per_s": 1.7e308, "$x^$/d_real": 0.4},
        {"step": 2, "split": "val", "eval/probe_feat/knn1_acc": 1.7e308},
        {"step": 3, "split": "val", "eval/probe_feat/knn1_acc": 0.6},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (run / "run.json").write_text('{"sessions": {"seconds": Infinity}}')


def test_report_on_damaged_values_warns_and_writes_the_page(tmp_path):
    run = hand_run(tmp_path / "run")
    damage(run)
    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert "not finite numbers left out" in page and "'time' at step 1" in page
    assert "run.json: 'sessions' is not a list" in page


def test_report_on_a_spec_whose_tables_are_not_tables(tmp_path):
    run = hand_run(tmp_path / "run")
    text = (run / "spec.toml").read_text()
    (run / "spec.toml").write_text("train = 3\n" + text.replace("[train]", "[unused]"))
    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "'train' is 3, not a table" in (tmp_path / "r.html").read_text()


def test_compare_on_overflowing_values_and_a_non_table_train(tmp_path):
    a = hand_run(tmp_path / "a", seed=0)
    b = hand_run(tmp_path / "b", seed=1)
    damage(a)
    damage(b)
    text = (b / "spec.toml").read_text()
    (b / "spec.toml").write_text("train = 3\n" + text.replace("[train]", "[unused]"))
    result = runner.invoke(app, ["compare", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    data = json.loads(result.stdout)  # the warnings go to stderr as well
    assert any("not finite numbers" in w for w in data["warnings"])
    assert any("'train' is 3" in w for w in data["warnings"])
    values = [r["values"] for g in data["groups"] for r in g["runs"]]
    assert all(abs(v) < 1e100 for vals in values for v in vals.values())


def test_a_run_with_many_phases_draws_a_bounded_page(tmp_path, monkeypatch):
    """1,000 phases once took minutes (a panel each, a graph too large to lay out); the
    page now draws at most MAX_PANELS panels and names what it left out. The caps are
    lowered here so that a 6-phase run shows the same behaviour in a second."""
    from gan.tools import report

    monkeypatch.setattr(report, "MAX_PANELS", 2)
    monkeypatch.setattr(report, "MAX_DRAWN", 3)
    monkeypatch.setattr(report, "MAX_PLAN_ROWS", 2)
    spec = read_spec("cgan")
    spec["data"]["source"] = "digits"
    spec["phases"] = [
        {
            "name": f"p{i}",
            "updates": ["D"] if i % 2 else ["G"],
            "optimizer": {"type": "adam", "lr": 1e-4},
            "losses": {"d_real": 1.0} if i % 2 else {"g_adv": 1.0},
        }
        for i in range(6)
    ]
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.toml").write_text(tomli_w.dumps(spec))
    lines = [{"step": s, **{f"p{i}/t": 0.5 for i in range(6)}} for s in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert page.count('class="panel"') == 2
    assert "6 phases log losses: the first 2 are drawn" in page
    assert "more than 3 to lay out" in page and 'id="graph-picture"' not in page
    assert "The first 2 of" in page
