"""`gan run` and `gan inspect` through the CLI, on digits (offline) and real MNIST."""

from __future__ import annotations

import json
import math
import tomllib

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()
# bigan re-estimates its BatchNorm statistics over 1,000 batches before evaluating (the
# official recipe): a few suffice to test the commands,
SHORT = ["--set", "train.steps=4", "--set", "train.batch_size=16", "--set", "train.log_every=2"]
# and its sample metric draws 10,000 images for the judge: 500 test the same code
QUICK_EVAL = ["--set", "eval.batchnorm_batches=4", "--set", "eval.metrics.samples.n=500"]


def run(*args: str):
    return runner.invoke(app, ["run", *args, "--quiet"])


def check_run_folder(out, steps: int) -> None:
    assert (out / "spec.toml").is_file()
    spec = tomllib.loads((out / "spec.toml").read_text())
    assert spec["train"]["steps"] == steps
    ckpts = sorted((out / "checkpoints").glob("*.safetensors"))
    assert ckpts, "no checkpoint written"
    tensors = load_file(ckpts[-1])
    assert any(k.startswith("net.G.") for k in tensors)
    assert any(k.startswith("optim.discriminator.") for k in tensors)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines and lines[-1]["step"] == steps
    for line in lines:
        for key, value in line.items():
            if "/" in key:
                assert math.isfinite(value), (key, value)
    assert list((out / "samples").glob("*.png"))


def test_run_on_digits(tmp_path):
    out = tmp_path / "b"
    result = run("bigan", "--out", str(out), "--set", "data.source=digits", *SHORT, *QUICK_EVAL)
    assert result.exit_code == 0, result.output
    check_run_folder(out, 4)


def test_run_on_real_mnist(tmp_path, mnist_root):
    out = tmp_path / "m"
    # without the spec's [eval]: its end-of-run evaluation trains the judge classifier on
    # 50,000 MNIST images, minutes of CPU that this test of `gan run` does not need
    no_eval = ["--set", "eval={}"]
    result = run(
        "specs/bigan.toml", "--out", str(out), "--set", f"data.root={mnist_root}", *SHORT, *no_eval
    )
    assert result.exit_code == 0, result.output
    check_run_folder(out, 4)


def test_existing_run_folder_is_not_overwritten(tmp_path):
    out = tmp_path / "b"
    args = ["bigan", "--out", str(out), "--set", "data.source=digits", *SHORT, *QUICK_EVAL]
    assert run(*args).exit_code == 0
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    again = run(*args)
    assert again.exit_code == 2
    assert "--resume" in again.output and "--force" in again.output
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == before
    more = run(
        "bigan",
        "--out",
        str(out),
        "--set",
        "data.source=digits",
        "--resume",
        "--set",
        "train.steps=6",
        "--set",
        "train.batch_size=16",
        *QUICK_EVAL,
    )
    assert more.exit_code == 0, more.output
    assert (out / "checkpoints" / "step_00000006.safetensors").is_file()


def test_inspect_names_networks_and_phases():
    result = runner.invoke(app, ["inspect", "specs/bigan.toml"])
    assert result.exit_code == 0, result.output
    for name in ("D:", "E:", "G:", "discriminator", "generator", "parameters"):
        assert name in result.output
    info = json.loads(runner.invoke(app, ["inspect", "bigan", "--json"]).output)
    assert set(info["networks"]) == {"G", "E", "D"}
    assert all(n["parameters"] > 0 for n in info["networks"].values())
    assert info["networks"]["D"]["calls"][0]["output"] == [2, 1]
    assert [p["phase"] for p in info["plan"]] == ["discriminator", "generator"]
    # which images [eval] selects on: bigan draws its 16.67% at random, clustergan
    # takes the first ones as TF's reader does
    assert "validation: 16.67% of the training split, drawn with data.val_seed = 0" in (
        result.output
    )
    official = runner.invoke(app, ["inspect", "clustergan"]).output
    assert "validation: 8.33% of the training split, the first in the source's order" in official
    none = runner.invoke(app, ["inspect", "bigan", "--set", "data.val=0"]).output
    assert "validation: none held out (data.val = 0)" in none


def test_version_and_help():
    assert "gan " in runner.invoke(app, ["--version"]).output
    assert "Examples" in runner.invoke(app, ["run", "--help"]).output


@pytest.mark.parametrize("cmd", [["plugins"], ["schema"]])
def test_listing_commands(cmd):
    result = runner.invoke(app, cmd)
    assert result.exit_code == 0, result.output
    assert "bigan" in result.output


def test_force_replaces_the_whole_previous_run(tmp_path):
    out = tmp_path / "b"
    base = ["bigan", "--out", str(out), "--set", "data.source=digits", *SHORT, *QUICK_EVAL]
    assert run(*base, "--set", "train.sample_every=1").exit_code == 0
    assert len(list((out / "samples").glob("step_*.png"))) == 4
    (out / "checkpoints" / "best.safetensors").write_bytes(b"from the old run")
    # no [eval] in the new run (bigan's spec evaluates at the last step and keeps a best)
    new = ["--set", "train.steps=2", "--set", "train.sample_every=2", "--set", "eval={}"]
    result = run(*base, "--force", *new)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "samples").glob("*.png")) == ["step_00000002.png"]
    best = out / "checkpoints" / "best.safetensors"  # the old run's is gone (the spec's
    assert not best.exists() or best.read_bytes() != b"from the old run"  # eval may write one)
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 2


@pytest.mark.parametrize(("command", "words"), [("eval", "[eval] metrics"), ("sample", "[sample]")])
def test_help_keeps_words_in_brackets(command, words):
    # typer renders help through rich: unescaped, "[eval]" is taken as a style tag and lost
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert words in result.output


def test_command_list_reflows_to_the_terminal_and_examples_keep_their_lines():
    # the docstring's line breaks are not the terminal's: on a wide terminal the
    # command list gives each summary one line, and each example stays on its own
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "where the time goes (data, forward, backward, optimizer)" in listing
    lines = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "200"}).output.splitlines()
    assert sum("gan bench cgan" in line for line in lines) == 2


def test_second_run_announces_its_folder_first_and_ends_with_next_steps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["run", "bigan", "--set", "data.source=digits", "--set", "eval={}", *SHORT]
    assert runner.invoke(app, [*args, "--quiet"]).exit_code == 0
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # said before any training line, with what --resume/--force would have done instead
    assert lines[0] == (
        "run folder runs/bigan-2 (runs/bigan exists; --resume continues it, --force overwrites it)"
    )
    done = next(i for i, line in enumerate(lines) if line.startswith("done: 4 steps in 0:0"))
    assert lines[done].endswith("run folder runs/bigan-2")
    assert "gan report runs/bigan-2" in result.output[result.output.index("done:") :]
