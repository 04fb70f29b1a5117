"""`gan eval`, `gan sample`, `[eval] every` with best.safetensors, `train.max_minutes`."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()
TINY = [
    "data.source=digits",
    "data.image_size=28",
    "data.limit=256",
    "train.batch_size=16",
    "train.steps=2",
    "train.log_every=1",
    "eval.limit=200",
    "eval.metrics.samples.n=200",
]


def sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def train(spec: str, out, *extra: str):
    result = runner.invoke(app, ["run", spec, "--out", str(out), "-q", *sets([*TINY, *extra])])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def clustergan_run(tmp_path_factory):
    return train("specs/clustergan.toml", tmp_path_factory.mktemp("cg") / "run")


def test_eval_prints_clustering_scores(clustergan_run):
    result = runner.invoke(app, ["eval", str(clustergan_run), "-q"])
    assert result.exit_code == 0, result.output
    for key in ("cluster/acc", "cluster/nmi", "cluster/ari", "kmeans/acc", "samples/frechet"):
        assert key in result.output


def test_eval_json_parses_and_values_are_in_range(clustergan_run):
    result = runner.invoke(app, ["eval", str(clustergan_run), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["step"] == 2
    m = payload["metrics"]
    for key in ("cluster/acc", "cluster/purity", "cluster/nmi", "samples/class_acc"):
        assert 0.0 <= m[key] <= 1.0, key
    assert -1.0 <= m["cluster/ari"] <= 1.0
    assert m["samples/frechet"] >= 0.0
    assert m["recon/mse"] > 0.0
    assert m["samples/judge_acc"] > 0.5  # the digits classifier itself learnt something


def test_eval_is_deterministic(clustergan_run):
    a = json.loads(runner.invoke(app, ["eval", str(clustergan_run), "--json"]).stdout)
    b = json.loads(runner.invoke(app, ["eval", str(clustergan_run), "--json"]).stdout)
    assert a["metrics"] == b["metrics"]


def test_sample_writes_one_row_per_cluster_and_reconstructions(clustergan_run, tmp_path):
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["sample", str(clustergan_run), "-n", "50", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:  # 10 rows (clusters) of 5 columns, 28 px + 2 px padding
        assert im.size == (5 * 30 + 2, 10 * 30 + 2)
    assert (tmp_path / "grid-reconstruction.png").is_file()
    # the reconstruction grid says which rows are the real images
    line = next(x for x in result.output.splitlines() if "grid-reconstruction.png" in x)
    assert "rows 1, 3, 5, …: real images of the test split" in line
    assert "rows 2, 4, 6, …: their reconstructions" in line


def test_sample_traversals_for_infogan(tmp_path):
    run = train("specs/infogan.toml", tmp_path / "run")
    result = runner.invoke(app, ["sample", str(run), "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    for name in ("s.png", "s-c_cont0.png", "s-c_cont1.png"):
        with Image.open(tmp_path / name) as im:
            assert im.size == (10 * 30 + 2, 10 * 30 + 2), name


def test_eval_every_writes_metrics_and_keeps_best(tmp_path):
    out = train(
        "specs/cgan.toml",
        tmp_path / "run",
        "train.steps=4",
        "eval.every=2",
        "eval.best=samples/class_acc",
    )
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [x for x in lines if "eval/samples/class_acc" in x]
    assert [x["step"] for x in evals] == [2, 4]
    best = max(evals, key=lambda x: x["eval/samples/class_acc"])
    path = out / "checkpoints" / "best.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["best_metric"] == "samples/class_acc"
    assert float(meta["best_value"]) == pytest.approx(best["eval/samples/class_acc"])
    assert meta["step"] == str(best["step"])
    assert load_file(path)  # a full, loadable checkpoint
    result = runner.invoke(app, ["eval", str(out), "--best", "--json"])
    assert json.loads(result.stdout)["step"] == best["step"]


def test_max_minutes_stops_with_a_checkpoint(tmp_path):
    out = train(
        "specs/cgan.toml", tmp_path / "run", "train.steps=100000", "train.max_minutes=0.0001"
    )
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] < 100
    assert list((out / "checkpoints").glob("step_*.safetensors"))


@pytest.mark.parametrize(
    "extra, words",
    [
        (["eval.metrics.cluster.node=nope"], ["eval.metrics.cluster.node", "nope"]),
        (["eval.best=cluter/acc"], ["eval.best", "cluster"]),
        (["eval.metrics.cluster.method=kmean"], ["eval.metrics.cluster.method"]),
        (["eval.metrics.x.type=clusterin", "eval.metrics.x.node=zc_real"], ["clustering"]),
        (["sample.rows=zn_typo"], ["sample.rows", "zn"]),
    ],
)
def test_bad_eval_specs_exit_2_with_the_key(clustergan_run, extra, words):
    result = runner.invoke(app, ["eval", str(clustergan_run), *sets(extra)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output


def test_eval_refuses_bad_paths_and_pickles(tmp_path):
    result = runner.invoke(app, ["eval", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output
    pickle = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, pickle)
    result = runner.invoke(app, ["eval", str(pickle)])
    assert result.exit_code == 2 and "pickle" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["sample", str(empty)])
    assert result.exit_code == 2 and "no checkpoint" in result.output


def test_eval_without_metrics_says_how_to_add_them(tmp_path):
    out = train("specs/cgan.toml", tmp_path / "run")
    result = runner.invoke(app, ["eval", str(out), "--set", "eval.metrics={}"])
    assert result.exit_code == 2
    assert "[eval.metrics" in result.output


def test_selection_and_report_draw_different_latents():
    """A sample metric does not read the data split: the latents that select a
    checkpoint on validation must not be the ones that report it on test."""
    from gan.evaluation.evaluate import Evaluation
    from gan.testing import tiny_engine

    engine = tiny_engine("cgan_conv")
    images = torch.zeros(16, 1, 8, 8)
    labels = torch.zeros(16, dtype=torch.long)

    def load(split):
        return images, labels

    with torch.no_grad():
        val = Evaluation(engine, load, quiet=True, split="val").generated(("x_fake", "c"), 8)
        test = Evaluation(engine, load, quiet=True, split="test").generated(("x_fake", "c"), 8)
        again = Evaluation(engine, load, quiet=True, split="test").generated(("x_fake", "c"), 8)
    assert not torch.equal(val["x_fake"], test["x_fake"])
    assert torch.equal(test["x_fake"], again["x_fake"])  # still deterministic per split
