"""The wheel installs the package as `gan` (nothing named `core` or `plugins` at the top
of site-packages) and carries the shipped specs, usable by short name from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from helpers import REPO


def test_wheel_layout_and_short_spec_names(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("gan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"gan", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert "gan/specs/bigan.toml" in names and "gan/core/engine.py" in names
    assert not any(n.startswith("gan/tests/") for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", "import gan; print(gan.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().startswith(str(target))
    inspected = subprocess.run(
        [sys.executable, "-m", "gan", "inspect", "bigan"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert inspected.returncode == 0, inspected.stderr
    assert "bigan.generator" in inspected.stdout
