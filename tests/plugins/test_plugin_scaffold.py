"""`gan init --plugin NAME` as a new author uses it: the package it writes installs (pip,
editable, no network), `gan run` trains its spec on digits, and its own test passes as
written. The package is uninstalled afterwards, so the environment is left as found.
`gan init --from` writes a spec without the shipped one's history and with the schema its
header points at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()
NAME = "scaffoldtest"  # not "demo": a user's own gan-plugin-demo must not be uninstalled
DIST = f"gan-plugin-{NAME}"


def run(*args: str, cwd: Path | None = None, timeout: float = 300):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def is_installed() -> bool:
    probe = "import importlib.metadata as m, sys; m.distribution(sys.argv[1])"
    return run("-c", probe, DIST).returncode == 0


@pytest.mark.slow  # a bench script or a package install end to end: CI's second step
def test_init_plugin_installs_trains_and_passes_its_own_test(tmp_path):
    folder = tmp_path / DIST
    result = runner.invoke(app, ["init", "--plugin", NAME, "--out", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"pip install -e {folder}" in result.output
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["gan.plugins"] == {NAME: f"gan_{NAME}.plugin"}
    assert not is_installed()
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(folder)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    try:
        listing = json.loads(run("-m", "gan", "plugins", "--json").stdout)
        components = listing["plugins"][f"gan_{NAME}.plugin"]["components"]
        assert {(c["kind"], c["name"]) for c in components} == {
            ("network", f"{NAME}.generator"),
            ("loss", f"{NAME}.hinge"),
        }
        spec = folder / "src" / f"gan_{NAME}" / "specs" / f"{NAME}.toml"
        out = tmp_path / "run"
        trained = run("-m", "gan", "run", str(spec), "--out", str(out), "--set", "train.steps=20")
        assert trained.returncode == 0, trained.stderr
        assert (out / "checkpoints" / "latest").exists() and list((out / "samples").glob("*.png"))
        own = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=folder)
        assert own.returncode == 0, own.stdout + own.stderr
        assert "3 passed" in own.stdout
    finally:
        done = subprocess.run([*pip, "uninstall", "-y", DIST], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert not is_installed()


def test_init_plugin_refuses_a_name_that_is_no_module_name(tmp_path):
    result = runner.invoke(app, ["init", "--plugin", "My-GAN", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "gan init --plugin my_gan" in result.output
    assert not (tmp_path / "p").exists()


def test_init_spec_has_no_history_and_its_schema_exists(tmp_path):
    target = tmp_path / "mine.toml"
    result = runner.invoke(app, ["init", "mine", "--from", "bigan", "--out", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    header = text.splitlines()[0]
    assert header == "#:schema ./gan-spec.schema.json"
    schema = json.loads((tmp_path / "gan-spec.schema.json").read_text())
    assert "properties" in schema and "train" in schema["properties"]
    assert "paper" not in text and "seed's" not in text  # the shipped spec's history
    spec = tomllib.loads(text)
    assert spec["name"] == "mine" and spec["train"]["steps"] <= 2000
    assert "epochs" not in spec["train"]
    assert runner.invoke(app, ["inspect", str(target)]).exit_code == 0
