"""bench/quality.py end to end on the offline digits: a step budget, selection on the
validation split, one test evaluation, an appended record, the report and its curve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # a bench script or a package install end to end: CI's second step
def test_quality_bench_records_a_validation_selected_test_figure(tmp_path: Path) -> None:
    out, runs = tmp_path / "results", tmp_path / "runs"
    out.mkdir()
    (out / "quality.json").write_text(json.dumps([{"model": "old", "spec": "x"}]))
    cmd = [
        sys.executable,
        str(REPO / "bench" / "quality.py"),
        "--models",
        "CGAN-conv",
        "--seeds",
        "0",
        "--out",
        str(out),
        "--runs",
        str(runs),
        *("--set", "data.source=digits", "--set", "train.steps=20"),
        *("--set", "eval.every=10", "--set", "data.val=200"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = json.loads((out / "quality.json").read_text())
    assert records[0] == {"model": "old", "spec": "x"}  # append-only
    new = records[-1]
    assert new["protocol"] == "steps+val" and new["seed"] == 0 and new["steps"] == 20
    assert new["selected_step"] in (10, 20)
    assert [c["step"] for c in new["curve"]] == [10, 20]
    assert 0.0 <= new["value"] <= 1.0 and "load_start" in new and new["minutes"] >= 0
    assert new["execution"]["precision"] == "fp32"  # what the figure was computed in
    # validation during training, the test split only in the final evaluation
    log = (runs / "cgan-conv_s0" / "metrics.jsonl").read_text()
    lines = [json.loads(x) for x in log.splitlines()]
    assert {x["split"] for x in lines if "split" in x} == {"val"}
    assert "eval.split=test" in new["eval_command"]
    report = (out / "quality.md").read_text()
    assert "| CGAN (conv) | 0 |" in report and "quality_cgan-conv.png" in report
    assert (out / "quality_cgan-conv.png").stat().st_size > 1000


def _twin_on_stand_in_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """quality.py's module, the ClusterGAN-twin entry, and a parser for its arguments;
    the twin's script runs for real, on its stand-in data (MNIST may be absent), after
    the folder it was given (``tmp_path / "mnist"``) is checked."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import quality

    data = tmp_path / "mnist"
    data.mkdir(exist_ok=True)
    original = subprocess.run

    def run_on_stand_in_data(cmd, *a, **kw):
        if "--data" not in cmd:  # anything else the bench runs (git, for the record)
            return original(cmd, *a, **kw)
        i = cmd.index("--data")
        assert (Path(kw["cwd"]) / cmd[i + 1]).resolve() == data.resolve()
        real = [*cmd[:i], *cmd[i + 2 :], "--synthetic", "--threads", "1", "--batch-size", "8"]
        return original(real, *a, **kw)

    monkeypatch.setattr(quality.subprocess, "run", run_on_stand_in_data)
    (entry,) = [e for e in quality.MODELS if e.key == "ClusterGAN-twin"]

    def parse(*more: str):
        return quality.build_parser().parse_args(
            ["--models", entry.key, "--data", str(data), "--runs", str(tmp_path), *more]
        )

    return quality, entry, parse


def test_twin_entry_runs_its_script_on_the_data_root_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A twin entry (ClusterGAN-twin) passes `--data` on to its script and records the
    script's curve and selected test figure."""
    quality, entry, parse = _twin_on_stand_in_data(tmp_path, monkeypatch)
    args = parse("--set", "train.steps=3", "--set", "eval.every=2")
    record = quality.run_script_seed(entry, 3, args)
    assert "error" not in record, record.get("error")
    assert record["steps"] == 3 and record["seed"] == 3
    assert [c["step"] for c in record["curve"]] == [2, 3]
    assert 0.0 <= record["value"] <= 1.0
    assert "--data" in record["command"]


@pytest.mark.slow  # three sittings of the twin's process
def test_a_run_stopped_by_max_minutes_is_resumed_and_recorded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--max-minutes ends a sitting with no record (the run is not finished); --resume
    finishes it, and the one record sums both sittings and keeps each one's load."""
    quality, entry, parse = _twin_on_stand_in_data(tmp_path, monkeypatch)
    budget = ["--set", "train.steps=3", "--set", "eval.every=2"]
    first = quality.run_script_seed(entry, 1, parse(*budget, "--max-minutes", "1e-9"))
    assert set(first) == {"stopped"} and "at step 1 " in first["stopped"]
    fresh = quality.run_script_seed(entry, 1, parse(*budget, "--max-minutes", "1e-9"))
    assert "at step 1 " in fresh["stopped"]  # without --resume: a new run, from step 0
    record = quality.run_script_seed(entry, 1, parse(*budget, "--resume"))
    assert "error" not in record and "stopped" not in record, record
    assert record["steps"] == 3 and [c["step"] for c in record["curve"]] == [2, 3]
    assert [s["to_step"] for s in record["sittings"]] == [1, 3]
    assert record["minutes"] == pytest.approx(sum(s["minutes"] for s in record["sittings"]))
    assert record["load_start"] == record["sittings"][0]["load_start"]
    assert "--resume" not in record["command"]  # the command that reproduces the run
    again = quality.run_script_seed(entry, 1, parse(*budget, "--resume"))
    assert "nothing to resume" in again["stopped"]  # not a second record of the same run


@pytest.mark.slow  # two `gan run` sittings end to end
def test_an_engine_run_stopped_by_max_minutes_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """The engine's side of sittings: SIGTERM when the sitting's minutes are up ends
    the first with a checkpoint and no record, `gan run --resume` finishes it, and one
    record holds both (the evaluations of an uninterrupted run, no more)."""
    out, runs = tmp_path / "results", tmp_path / "runs"
    out.mkdir()
    (out / "quality.json").write_text("[]")
    cmd = [sys.executable, str(REPO / "bench" / "quality.py"), "--models", "CGAN-conv"]
    cmd += ["--seeds", "0", "--out", str(out), "--runs", str(runs)]
    cmd += ["--set", "data.source=digits", "--set", "train.steps=40", "--set", "eval.every=20"]
    # the signal waits for a first logged step; logging every 3rd step, the sitting
    # mostly stops between two log lines, and lists the step it checkpointed
    cmd += ["--set", "train.log_every=3"]
    cmd += ["--set", "eval.metrics.samples.n=200"]  # the judge's 10,000 samples: minutes
    first = subprocess.run([*cmd, "--max-minutes", "1e-9"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "stopped at step " in first.stdout and "--resume" in first.stdout, first.stdout
    (listed,) = json.loads((runs / "cgan-conv_s0" / "sittings.json").read_text())
    assert (
        runs / "cgan-conv_s0" / "checkpoints" / f"step_{listed['to_step']:08d}.safetensors"
    ).is_file()
    assert json.loads((out / "quality.json").read_text()) == []
    second = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    store = out / "quality.json"
    (record,) = json.loads(store.read_text())
    stopped_at, end = (s["to_step"] for s in record["sittings"])
    assert 0 < stopped_at < 40 and end == record["steps"] == 40
    assert "--force" in record["command"] and "--resume" not in record["command"]
    assert [c["step"] for c in record["curve"]] == [20, 40]
    third = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert "nothing to resume" in third.stdout and len(json.loads(store.read_text())) == 1
    # a sitting that ended after training, before the record: --resume records it then
    (runs / "cgan-conv_s0" / "recorded.json").unlink()
    fourth = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert fourth.returncode == 0, fourth.stderr[-2000:]
    first_record, late = json.loads(store.read_text())
    assert late["curve"] == first_record["curve"] and late["steps"] == 40
    assert late["minutes"] == first_record["minutes"]  # the two sittings', none added
    assert (runs / "cgan-conv_s0" / "recorded.json").is_file()


def test_merged_codes_are_named_per_seed_and_counted_over_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """InfoGAN's rows: a code whose samples the judge reads as its digit under 80% of
    the time is named beside the seed's figure, and the seeds with one are counted."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import quality_entries
    import quality_report

    def record(seed: int, rows: list[float]) -> dict:
        metrics = {f"samples/class_acc_{k}": v for k, v in enumerate(rows)}
        metrics["cluster/acc"] = 0.9
        return {"protocol": quality_entries.PROTOCOL, "model": "InfoGAN", "seed": seed, "steps": 5,
                "selected_step": 5, "minutes": 1.0, "value": 0.9, "metrics": metrics,
                "command": "gan run", "eval_command": "gan eval"}  # fmt: skip

    merged = record(0, [0.99, 0.5, 0.95, 0.79])
    clean = record(1, [0.99, 0.98, 0.95, 0.8])
    (entry,) = [e for e in quality_entries.MODELS if e.key == "InfoGAN"]
    assert quality_report.weak_rows(entry, merged) == [(1, 0.5), (3, 0.79)]
    assert quality_report.weak_rows(entry, clean) == []
    quality_report.write_report([merged, clean], tmp_path / "quality.md")
    text = (tmp_path / "quality.md").read_text()
    assert "rows read < 80%: 1 (50%), 3 (79%)" in text and "rows read < 80%: none" in text
    assert "1 of 2 with a row read < 80%" in text


def test_a_sitting_cut_off_or_never_listed_makes_the_minutes_a_lower_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sitting is listed when it starts: one the machine cut off shows with unknown
    minutes, as does a run resumed with no list; the sum then says it is a lower bound."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import quality

    path = tmp_path / "sittings.json"
    quality.Sitting(path, resumed=False)  # ... and the machine stopped: no end()
    resumed = quality.Sitting(path, resumed=True)
    resumed.end(step=30)
    summary = resumed.summary()
    assert [s["minutes"] is None for s in summary["sittings"]] == [True, False]
    assert summary["timing"].startswith("a lower bound")
    complete = quality.Sitting(tmp_path / "other.json", resumed=False)
    complete.end(step=30)
    assert "timing" not in complete.summary() and "sittings" not in complete.summary()
    orphan = quality.Sitting(tmp_path / "absent.json", resumed=True)  # an older script's run
    orphan.end(step=30)
    assert orphan.summary()["sittings"][0]["note"] == "not recorded"


def test_a_runs_end_step_is_its_last_sessions_not_its_last_log_line(tmp_path: Path) -> None:
    """A run stopped between two log lines ended (and checkpointed) on a later step
    than it logged: the sitting lists run.json's step; a run.json without one (or
    none) falls back to the log."""
    from gan.training.runinfo import read_run

    (tmp_path / "metrics.jsonl").write_text('{"step": 250, "time": 1.0}\n')
    assert read_run(tmp_path).end_step == 250
    sessions = [{"start_step": 0, "end_step": 100}, {"start_step": 100, "end_step": 256}]
    (tmp_path / "run.json").write_text(json.dumps({"sessions": sessions}))
    assert read_run(tmp_path).end_step == 256
    (tmp_path / "run.json").write_text(json.dumps({"sessions": [{"status": "running"}]}))
    assert read_run(tmp_path).end_step == 250


def test_a_runs_execution_is_its_last_sessions_choice(tmp_path: Path) -> None:
    """The precision (and compile, graphs) a record carries are the latest session's,
    as the trainer chose them: a resumed run on a bf16 CPU says bf16, whatever the
    first session ran in; a run.json without them says nothing."""
    from gan.training.runinfo import read_run

    (tmp_path / "metrics.jsonl").write_text('{"step": 250, "time": 1.0}\n')
    assert read_run(tmp_path).execution == {}
    chosen = {"precision": {"value": "bf16", "reason": "auto: AMX"}, "compile": "eager"}
    sessions = [{"execution": {"precision": {"value": "fp32"}}}, {"execution": chosen}]
    (tmp_path / "run.json").write_text(json.dumps({"sessions": sessions}))
    assert read_run(tmp_path).execution == {"precision": "bf16", "compile": "eager"}


def test_the_engine_is_held_to_its_twins_seed_range_at_every_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ClusterGAN's target is its twin's: the engine's median validation purity over
    seeds inside the twin's seed range at each evaluation both reached; a step outside
    is named, and a twin of one seed has no range to be inside."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import quality_entries
    import quality_report

    (engine,) = [e for e in quality_entries.MODELS if e.key == "ClusterGAN"]

    def record(model: str, seed: int, curve: list[float]) -> dict:
        points = [{"step": 250 * (i + 1), "kmeans/purity": v} for i, v in enumerate(curve)]
        figures = {"value": curve[-1], "metrics": {"kmeans/purity": curve[-1]}}
        return {"protocol": quality_entries.PROTOCOL, "model": model, "seed": seed, "steps": 750,
                "selected_step": 750, "minutes": 1.0, "curve": points, "command": "c",
                "eval_command": "e", **figures}  # fmt: skip

    twin = "ClusterGAN twin (official loop in plain PyTorch)"
    mine = [[0.30, 0.5, 0.6], [0.40, 0.6, 0.76], [0.35, 0.55, 0.68]]
    ours = [record(engine.name, s, c) for s, c in enumerate(mine)]
    theirs = [[0.32, 0.4, 0.6], [0.36, 0.6, 0.7], [0.34, 0.5, 0.65]]
    twins = [record(twin, s, c) for s, c in enumerate(theirs)]
    met, text = quality_report.inside_twin_range(engine, ours, twins)
    assert met and text == (
        "inside the twin's 3-seed range at 3 of 3 evaluations (two equal programs: chance "
        "0.60 per evaluation); the seed ranges overlap at 3 of 3"
    )
    ours[1]["curve"][2]["kmeans/purity"] = 1.0
    ours[2]["curve"][2]["kmeans/purity"] = 0.8  # median 0.8 at step 750: above 0.6–0.7
    met, text = quality_report.inside_twin_range(engine, ours, twins)
    assert not met and "outside at step 750 (0.800 vs 0.600–0.700)" in text
    assert text.endswith("overlap at 3 of 3")  # 0.76–1.0 still meets 0.6–0.7 at step 750
    ours[0]["curve"][2]["kmeans/purity"] = 0.9
    assert quality_report.inside_twin_range(engine, ours, twins)[1].endswith("overlap at 2 of 3")
    ours[0]["curve"][2]["kmeans/purity"] = 0.6
    # How strict: one seed inside two is its middle rank of three; 3 and 3 is 12 of 20.
    assert quality_report.chance_median_inside(1, 2) == pytest.approx(1 / 3)
    assert quality_report.chance_median_inside(3, 3) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        quality_report.chance_median_inside(2, 3)
    # inside at every step, but with fewer seeds or other seeds than the 3 a side
    ours[1]["curve"][2]["kmeans/purity"] = 0.76
    ours[2]["curve"][2]["kmeans/purity"] = 0.68
    met, text = quality_report.inside_twin_range(engine, ours[:2], twins[:2])
    assert not met and "not yet the same 3 seeds a side" in text
    twins[2]["seed"] = 5
    assert not quality_report.inside_twin_range(engine, ours, twins)[0]
    met, text = quality_report.inside_twin_range(engine, ours, twins[:1])
    assert not met and text == "no twin range yet (engine seeds [0, 1, 2], twin [0])"
    # The picture beside the twin draws the comparison's budget only, on both sides.
    short = [{**r, "variant": "steps250"} for r in (ours[0], twins[0])]
    drawn, beside = quality_report.picture_runs(engine, [*ours, *twins, *short])
    assert drawn == ours and beside == twins
    quality_report.write_report([*ours, *twins[:2]], tmp_path / "quality.md")
    table = (tmp_path / "quality.md").read_text()
    assert (
        "| **no**: inside the twin's 2-seed range at 3 of 3 evaluations (two equal programs: "
        "chance 0.40 per evaluation); the seed ranges overlap at 3 of 3; not yet"
    ) in table
    assert "| — (the reference) |" in table
    # The picture: the engine's median over its seeds, at the steps all of them reached.
    ours[2]["curve"] = ours[2]["curve"][:2]
    assert quality_report._median_curve(engine, ours) == ([250, 500], [0.35, 0.55])
    assert quality_report._median_curve(engine, ours[:1]) is None
    assert (tmp_path / "quality_clustergan.png").stat().st_size > 0


def test_max_minutes_is_the_sittings_and_each_run_gets_what_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--max-minutes bounds the whole invocation: a run that finishes early leaves its
    minutes to the next, and a run reached with too little left is not started (it
    waits for the next sitting's --resume); without it every run gets the arguments."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import quality

    entry = quality.MODELS[0]
    runs = [(entry, 0), (entry, 1), (entry, 2)]
    now = iter([0.0, 0.0, 60 * 40, 60 * 99])  # start; seed 0; 40 min later; 99 min later
    args = quality.build_parser().parse_args(["--max-minutes", "100"])
    shares = list(quality.sitting_shares(args, runs, clock=lambda: next(now)))
    assert [s.max_minutes if s else None for _, _, s in shares] == [100.0, 60.0, None]
    assert args.max_minutes == 100  # the caller's arguments are not changed
    now = iter([0.0, 60.0])  # a sitting of one minute, spent before the first run starts
    short = quality.build_parser().parse_args(["--max-minutes", "1"])
    (first,) = quality.sitting_shares(short, runs[:1], clock=lambda: next(now))
    assert first[2] is not None and first[2].max_minutes == 1e-9  # still runs, briefly
    unbounded = quality.build_parser().parse_args([])
    assert [s for _, _, s in quality.sitting_shares(unbounded, runs)] == [unbounded] * 3
