"""bench/speed.py --smoke: every model and variant runs and the results files are
written. A few steps each; no timing assertion (CI machines are noisy)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO

MODELS = {"bigan", "clustergan", "infogan", "aae", "cgan"}
VARIANTS = {"script", "tight", "engine", "engine_bf16", "engine_auto"}  # compiled: not in smoke


@pytest.mark.slow  # a bench script or a package install end to end: CI's second step
def test_speed_benchmark_smoke(tmp_path, mnist_root):
    out = tmp_path / "results"
    cmd = [sys.executable, str(REPO / "bench" / "speed.py"), "--smoke", "--out", str(out)]
    cmd += ["--data-root", str(mnist_root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "speed.json").read_text())
    assert results["smoke"] is True
    assert set(results["models"]) == MODELS
    peak = results["machine"]["matmul_peak_gflops"]
    assert peak["fp32"] > 0 and peak["bf16"] > 0
    for name, row in results["models"].items():
        assert set(row["steps_per_s"]) == VARIANTS, name
        assert all(v["median"] > 0 for v in row["steps_per_s"].values()), name
        assert all(f > 0 for f in row["flops_per_step"].values()), name
        # the engine skips weight gradients of frozen networks: never more FLOPs
        assert row["flops_per_step"]["engine"] <= row["flops_per_step"]["tight"], name
        assert all(b > 0 for b in row["peak_step_bytes"].values()), name
        assert set(row["engine_sections"]["ms_per_step"]) >= {"data", "forward", "backward"}
        assert row["auto_precision"]["value"] in ("fp32", "bf16"), name
        assert "not measured" in row["compile"]["note"], name
        if name in {"cgan", "aae", "infogan"}:
            assert "not measured" in row["reference"]["note"], name
    md = (out / "speed.md").read_text()
    assert "--smoke" in md and "auto precision: " in md
    for name in MODELS:
        assert f"| {name} |" in md


@pytest.mark.slow  # a bench script or a package install end to end: CI's second step
def test_gpu_speed_script_runs_its_eager_variants_anywhere(tmp_path, mnist_root):
    """bench/speed_gpu.py measures a CUDA GPU; here its code path on the CPU: the eager
    variants of two models are timed, the run is appended to the store's runs and the
    report rewritten from all of them."""
    out = tmp_path / "gpu"
    out.mkdir()
    earlier = {"date": "earlier", "device": "cuda", "machine": {"torch": "x"}, "command": "c"}
    earlier["models"] = {"bigan": {"batch_size": 128, "variants": {"fp32": {"steps_per_s": 9}}}}
    (out / "speed_gpu.json").write_text(json.dumps({"runs": [earlier]}))
    cmd = [sys.executable, str(REPO / "bench" / "speed_gpu.py"), "--smoke", "--device", "cpu"]
    cmd += ["--data-root", str(mnist_root), "--out", str(out), "--models", "cgan", "aae"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = json.loads((out / "speed_gpu.json").read_text())
    assert store["runs"][0] == earlier  # earlier runs stay
    result = store["runs"][-1]
    assert len(store["runs"]) == 2 and set(result["models"]) == {"cgan", "aae"}
    for name, row in result["models"].items():
        variants = row["variants"]
        assert variants["fp32"]["steps_per_s"] > 0, name
        assert variants["bf16"]["precision"]["value"] == "bf16", name
        assert variants["compiled"] == {"skipped": "the compile budget was spent"}, name
    md = (out / "speed_gpu.md").read_text()
    assert "| cgan | 64 |" in md and "| bigan | 128 | 9.0 |" in md and "## earlier" in md
