"""The PyTorch-GAN reference scripts (eriklindernoren/PyTorch-GAN), timed as they are.

They are the code the seeds came from, so "faster than the scripts people copy" is
measured on those scripts themselves, unmodified: each runs in a subprocess from its own
working folder, and its steps/s is read from the times at which it prints its
per-batch lines (``python -u``). Nothing of theirs is committed: the repository is
cloned at benchmark time into ``bench/reference/`` (ignored by git), and a model whose
script is absent is skipped with a note.

The scripts read MNIST through torchvision from ``../../data/mnist`` (relative to their
working folder) and would download it; the IDX files of ``--data-root`` are unpacked
where torchvision looks, so nothing is downloaded.
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, recorded

FOLDER = REPO / "bench" / "reference"
URL = "https://github.com/eriklindernoren/PyTorch-GAN"
SCRIPTS = {"cgan": "cgan", "aae": "aae", "infogan": "infogan"}  # our model → theirs
IDX = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def checkout(source: str = URL) -> tuple[Path | None, str]:
    """The PyTorch-GAN checkout under ``bench/reference/``: cloned from ``source`` (a
    URL or a local repository) when absent. Returns (folder or None, note)."""
    dest = FOLDER / "PyTorch-GAN"
    if (dest / "implementations").is_dir():
        return dest, f"{dest.relative_to(REPO)} (present)"
    FOLDER.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", source, str(dest)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        return None, f"not measured: cloning {source} failed ({type(exc).__name__})"
    return dest, f"cloned from {source}"


def _unpack_mnist(data_root: Path) -> None:
    """torchvision's MNIST/raw layout (uncompressed IDX) from the .gz files we have."""
    raw = FOLDER / "data" / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in IDX:
        target = raw / name
        if not target.is_file():
            with gzip.open(data_root / f"{name}.gz") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def time_script(
    model: str,
    checkout_dir: Path,
    data_root: Path,
    steps: int,
    warmup: int = 50,
    windows: int = 5,
    threads: int | None = None,
) -> dict:
    """Run one reference script for ``warmup + steps`` batches; steps/s over the timed
    batches, split into ``windows`` equal windows (median and each window's rate)."""
    script = checkout_dir / "implementations" / SCRIPTS[model] / f"{SCRIPTS[model]}.py"
    if not script.is_file():
        return {"note": f"not measured: {script.relative_to(REPO)} is absent"}
    _unpack_mnist(data_root)
    work = FOLDER / "work" / model  # ../../data/mnist from here is FOLDER/data/mnist
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", CUDA_VISIBLE_DEVICES="")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-u", str(script), "--n_epochs", "1000", "--sample_interval", "10000000"]
    times: list[float] = []
    proc = subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("[Epoch"):
                times.append(time.perf_counter())
                if len(times) > warmup + steps:
                    break
    finally:
        proc.kill()
        _, err = proc.communicate()
    if len(times) <= warmup + steps:
        tail = (err or "").strip().splitlines()[-1:] or ["no output"]
        return {"note": f"not measured: the script stopped after {len(times)} batches: {tail[0]}"}
    timed = times[warmup:]
    per = steps // windows
    rates = [per / (timed[(i + 1) * per] - timed[i * per]) for i in range(windows)]
    return {
        "median": statistics.median(rates),
        "rates": rates,
        "steps": steps,
        "script": str(script.relative_to(REPO)),
        "command": " ".join(["-u", recorded(script), *cmd[3:]]),
    }
