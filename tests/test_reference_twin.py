"""bench/reference/clustergan_official.py, the plain-PyTorch twin of ClusterGAN's official
loop: independent of the engine (imports nothing of ``gan``), the official variables'
shapes, and a short run that writes its validation curve and a selected test figure."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from common import TWIN, load_twin

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def twin() -> ModuleType:
    return load_twin()


def test_twin_imports_nothing_of_the_engine() -> None:
    tree = ast.parse(TWIN.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import would reach into the repository"
            roots.add((node.module or "").split(".")[0])
    assert "gan" not in roots
    stdlib = {"__future__", "argparse", "copy", "gzip", "json", "os", "time", "pathlib"}
    assert roots <= stdlib | {"numpy", "torch", "sklearn", "safetensors"}, roots


def test_twin_networks_have_the_official_variables(twin: ModuleType) -> None:
    """mnist/clus_wgan.py's trainable variables: G's three batch norms hold a shift β and
    no scale γ (tc.layers.batch_norm defaults); D and E end in one FC each."""
    g = twin.Generator()
    official_g = (
        (40 * 1024 + 1024) + 1024  # fc1 + its batch norm's β
        + (1024 * 7 * 7 * 128 + 7 * 7 * 128) + 128  # fc2 + β per channel after the reshape
        + (128 * 64 * 16 + 64) + 64  # deconv 64 + β
        + (64 * 16 + 1)  # deconv 1 (sigmoid)
    )  # fmt: skip
    assert sum(p.numel() for p in g.parameters()) == official_g
    body = (16 * 64 + 64) + (64 * 128 * 16 + 128) + (128 * 7 * 7 * 1024 + 1024)
    assert sum(p.numel() for p in twin.Discriminator().parameters()) == body + 1024 + 1
    assert sum(p.numel() for p in twin.Encoder().parameters()) == body + 1024 * 40 + 40
    # batch statistics always, shifted by β: per-channel mean β, unit variance
    with torch.no_grad():
        g.bn2.beta.fill_(0.5)
        h = g.bn2(torch.randn(16, 128, 7, 7) * 3 + 2)
    assert torch.allclose(h.mean(dim=(0, 2, 3)), torch.full((128,), 0.5), atol=1e-4)
    with torch.no_grad():
        sample = g(twin.sample_z(4, np.random.RandomState(0))[0])
    assert sample.shape == (4, 1, 28, 28) and float(sample.min()) >= 0 and float(sample.max()) <= 1


def test_twin_short_run_writes_curve_and_selected_test_figure(
    twin: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "twin.jsonl"
    args = ["--synthetic", "--steps", "2", "--eval-every", "1", "--batch-size", "8"]
    summary = twin.main([*args, "--out", str(out), "--seed", "3", "--threads", "1"])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    curve, last = lines[:-1], lines[-1]
    assert [c["step"] for c in curve] == [1, 2]
    assert all(c["split"] == "val" for c in curve)
    for c in curve:
        for key in ("kmeans/purity", "kmeans/nmi", "kmeans/ari", "cluster/purity"):
            assert 0.0 <= c[key] <= 1.0 or key == "kmeans/ari"
    assert last == summary and last["final"] and last["seed"] == 3
    best = max(curve, key=lambda c: c["kmeans/purity"])
    assert last["selected_step"] == best["step"]
    assert last["val_selected"] == best["kmeans/purity"]
    assert set(last["test"]) == set(last["test_final"]) >= {"kmeans/purity"}


def test_twin_refuses_a_missing_data_folder(twin: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="pass --data"):
        twin.main(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "x.jsonl")])


def test_twin_resumed_after_a_stop_writes_the_uninterrupted_curve(
    twin: ModuleType, tmp_path: Path
) -> None:
    """A sitting stopped by --max-minutes and a --resume that finishes the run write the
    lines, losses and figures of one uninterrupted run: every generator, the reader's
    place, both Adams and the best encoder came back from the safetensors state."""
    common = ["--synthetic", "--eval-every", "2", "--batch-size", "8", "--seed", "5"]
    whole, split = tmp_path / "whole.jsonl", tmp_path / "split.jsonl"
    twin.main([*common, "--steps", "4", "--out", str(whole), "--threads", "1"])
    stopped = twin.main(
        [*common, "--steps", "4", "--out", str(split), "--threads", "1", "--max-minutes", "1e-9"]
    )
    assert stopped["stopped"] and stopped["step"] == 1
    assert twin.state_path(split).is_file()
    again = [*common, "--steps", "4", "--out", str(split), "--resume"]
    assert twin.main([*again, "--max-minutes", "1e-9"])["step"] == 2  # after an evaluation
    assert twin.main(again)["final"]

    def lines(path: Path) -> list[dict]:
        return [
            {k: v for k, v in json.loads(line).items() if k not in ("seconds", "minutes")}
            for line in path.read_text().splitlines()
        ]

    assert lines(split) == lines(whole)
    assert [d.get("step") for d in lines(whole)] == [2, 4, None]


def test_twin_resume_refuses_other_settings_or_a_missing_state(
    twin: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "t.jsonl"
    base = ["--synthetic", "--eval-every", "1", "--batch-size", "8", "--out", str(out)]
    with pytest.raises(SystemExit, match="no state file"):
        twin.main([*base, "--steps", "2", "--resume"])
    twin.main([*base, "--steps", "1", "--seed", "1"])
    with pytest.raises(SystemExit, match="other seed"):
        twin.main([*base, "--steps", "2", "--seed", "2", "--resume"])


def test_crosscheck_scores_the_engines_own_validation_images(
    twin: ModuleType, mnist_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/twin_crosscheck.py scores both sides on both validation splits: its
    "val_engine" images are the engine's own validation split (the same images, labels
    and pixel values), here the random one the first recorded runs held out; with the
    shipped spec's ``val_pick = "first"`` the two programs hold out the same images."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import twin_crosscheck

    from gan.api import load_spec, resolve
    from gan.core.data import load_data

    sets = [f'data.root="{mnist_root}"', 'data.val_pick="random"']
    spec = load_spec(REPO / "specs" / "clustergan.toml", sets)
    images, labels = load_data(resolve(spec), "val", whole=True)
    data = spec.data
    found = twin_crosscheck.splits(twin, mnist_root, (data.val, data.val_seed, data.val_pick))
    x, y = found["val_engine"]
    assert torch.equal(torch.tensor(y).long(), labels)
    torch.testing.assert_close(torch.from_numpy(x), images, rtol=0, atol=1e-6)
    first_x, first_y = found["val_first"]
    assert first_x.shape == (5000, 1, 28, 28) and not np.array_equal(first_y, y)
    shipped = load_spec(REPO / "specs" / "clustergan.toml", sets[:1])
    images, labels = load_data(resolve(shipped), "val", whole=True)
    assert torch.equal(torch.tensor(first_y).long(), labels)
    torch.testing.assert_close(torch.from_numpy(first_x), images, rtol=0, atol=1e-6)


def test_crosscheck_merge_scores_new_runs_on_the_kept_rows_images(
    twin: ModuleType, mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run folders are not committed: ``--merge`` keeps an earlier file's rows for runs
    not on disk, scores the runs that are, and reads the engine's carve-out from the
    file (or ``--engine-carve``), refusing to guess it."""
    from safetensors.torch import save_file

    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import twin_crosscheck

    # a scorer that names the images it was given: their count and first label
    monkeypatch.setattr(twin, "evaluate", lambda _e, x, y: {"kmeans/purity": len(x) + y[0] / 10})
    monkeypatch.setattr(twin_crosscheck, "load_twin", lambda: twin)
    runs = tmp_path / "runs"
    runs.mkdir()
    tensors = {f"E.{k}": v.contiguous() for k, v in twin.Encoder().state_dict().items()}
    state = {"state": json.dumps({"step": twin_crosscheck.STEPS})}
    save_file(tensors, str(runs / "clustergan-twin_s2.state.safetensors"), metadata=state)
    lines = [{"step": twin_crosscheck.STEPS, "split": "val", "kmeans/purity": 0.47},
             {"final": True, "test_final": {"kmeans/purity": 0.46}}]  # fmt: skip
    (runs / "clustergan-twin_s2.jsonl").write_text("".join(json.dumps(d) + "\n" for d in lines))
    earlier = {"runs": [
        {"run": f"clustergan_s{s}", "side": "engine", "seed": s,
         "purity": dict.fromkeys(twin_crosscheck.SPLITS, 0.5), "recorded": {"val": 0.5}}
        for s in (0, 1)
    ]}  # fmt: skip
    out = tmp_path / "crosscheck.json"
    out.write_text(json.dumps(earlier))
    base = ["--runs", str(runs), "--data", str(mnist_root), "--out", str(out), "--merge"]
    with pytest.raises(SystemExit, match="--engine-carve"):
        twin_crosscheck.main(base)
    assert json.loads(out.read_text()) == earlier  # nothing written on refusal
    result = twin_crosscheck.main([*base, "--engine-carve", "0.08333", "0", "random"])
    assert [r["run"] for r in result["runs"]] == [
        "clustergan_s0", "clustergan_s1", "clustergan-twin_s2"
    ]  # fmt: skip
    assert result["kept"] == ["clustergan_s0", "clustergan_s1"]
    assert result["engine_carve"] == [0.08333, 0, "random"]
    new = result["runs"][2]
    assert new["recorded"] == {"val": 0.47, "test": 0.46}
    assert int(new["purity"]["val_first"]) == 5000 and int(new["purity"]["test"]) == 10000
    assert new["purity"]["val_engine"] != new["purity"]["val_first"]  # other images
    # a second merge reads the carve-out from the file it wrote: the same figures
    assert twin_crosscheck.main(base)["runs"] == result["runs"]
