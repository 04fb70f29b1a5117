"""bench/campaign.py on the CPU: the GPU window's script, checked before a GPU is lent."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO


@pytest.mark.slow  # a bench script or a package install end to end: CI's second step
def test_campaign_smoke_appends_per_seed_records(tmp_path) -> None:
    out, runs = tmp_path / "results", tmp_path / "runs"
    out.mkdir()
    (out / "quality.json").write_text(json.dumps([{"model": "old", "spec": "x"}]))
    (out / "speed_gpu.json").write_text(json.dumps({"device": "earlier", "runs": []}))
    cmd = [sys.executable, str(REPO / "bench" / "campaign.py"), "--smoke", "--models", "AAE"]
    cmd += ["--seeds", "2", "--minutes", "3", "--out", str(out), "--runs", str(runs)]
    cmd += ["--set", "eval.limit=200", "--set", "data.limit=400", "--set", "train.batch_size=16"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    records = json.loads((out / "quality.json").read_text())
    assert records[0] == {"model": "old", "spec": "x"}  # append-only
    new = records[1:]
    assert [r["seed"] for r in new] == [0, 1]
    for r in new:
        assert r["protocol"] == "steps+val" and r["steps"] == 2 and "error" not in r
        assert r["campaign"]["seeds_together"] == 2 and r["device"].startswith("cpu")
        assert r["eval_command"].startswith("gan eval") and 0.0 <= r["value"] <= 1.0
        assert r["campaign"]["execution"]["seeds"]["form"]["value"] in (
            "vectorised",
            "seed by seed",
        )
    speed = json.loads((out / "speed_gpu.json").read_text())
    assert speed["device"] == "earlier"  # the earlier figures stay
    (run,) = speed["campaign"]
    assert run["seeds"] == 2 and run["aggregate_steps_per_s"] > 0


def test_speed_section_is_replaced_not_repeated(tmp_path) -> None:
    import campaign

    result = {
        "threads": 1,
        "load_average_at_start": [9.0, 9.0, 9.0],
        "load_average_at_end": [8.0, 8.0, 8.0],
        "settings": {"seconds": 1.0, "repeats": 2, "seeds": [1, 4]},
        "models": {
            "aae": {
                "1": {"seed_by_seed": {"aggregate_steps_per_s": 5.0}, "auto": None},
                "4": {
                    "seed_by_seed": {"aggregate_steps_per_s": 4.0},
                    "vectorised": {"aggregate_steps_per_s": 6.0},
                    "auto": {"value": "seed by seed", "reason": "measured"},
                },
            }
        },
    }
    (tmp_path / "speed.md").write_text("# Speed\n\nearlier text\n")
    campaign.write_speed(result, tmp_path)
    campaign.write_speed(result, tmp_path)
    text = (tmp_path / "speed.md").read_text()
    assert text.count(campaign.SECTION) == 1 and "earlier text" in text
    assert "| aae | — | 5.00 | — | — | 4.00 | 6.00 | seed by seed ✗ |" in text
    assert json.loads((tmp_path / "speed.json").read_text())["seeds"] == result
    # a later run of another model (same settings) keeps aae's row beside its own
    later = {**result, "models": {"cgan": {**result["models"]["aae"], "load_average": [1, 2]}}}
    campaign.write_speed(later, tmp_path)
    text = (tmp_path / "speed.md").read_text()
    assert "| aae | — | 5.00 |" in text and "| cgan | 1.0 → 2.0 | 5.00 |" in text
    stored = json.loads((tmp_path / "speed.json").read_text())["seeds"]["models"]
    assert list(stored) == ["aae", "cgan"]


@pytest.mark.slow  # a bench script's processes end to end
def test_campaign_runs_a_twins_seeds_at_once_and_records_each(tmp_path, monkeypatch) -> None:
    """A twin entry (ClusterGAN-twin) in a campaign: K processes of its script at once,
    on the campaign's device, one record each in quality.py's format. The script runs
    for real, on its stand-in data (MNIST may be absent)."""
    import campaign
    import quality

    data = tmp_path / "mnist"
    data.mkdir()
    original, started = subprocess.run, []

    def on_stand_in_data(cmd, *a, **kw):
        if "--data" not in cmd:  # anything else (uname, for the record's machine)
            return original(cmd, *a, **kw)
        i = cmd.index("--data")
        started.append(cmd)
        return original([*cmd[:i], *cmd[i + 2 :], "--synthetic", "--threads", "1"], *a, **kw)

    monkeypatch.setattr(quality.subprocess, "run", on_stand_in_data)
    out, runs = tmp_path / "results", tmp_path / "runs"
    argv = ["--smoke", "--models", "ClusterGAN-twin", "--seeds", "2", "--minutes", "5"]
    argv += ["--device", "cpu", "--data", str(data), "--out", str(out), "--runs", str(runs)]
    args = campaign.parse_args(argv)
    records = campaign.campaign(args)
    assert sorted(r["seed"] for r in records) == [0, 1]
    for r in records:
        assert "error" not in r, r["error"]
        assert r["steps"] == 2 and r["device"].startswith("cpu") and 0 <= r["value"] <= 1
        assert r["campaign"]["seeds_together"] == 2
    for cmd in started:
        assert cmd[cmd.index("--device") + 1] == "cpu" and "--max-minutes" in cmd
    stored = json.loads((out / "quality.json").read_text())
    assert [r["model"] for r in stored] == [records[0]["model"]] * 2


def test_a_campaign_refuses_a_recipe_key_its_twin_cannot_take(monkeypatch) -> None:
    """A user's `--set` reaches the engine's models and the twin alike, or the campaign
    stops before anything trains: a recipe key the twin has no option for is refused,
    while the smoke's own settings (the engine's) are not the twin's to refuse."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    import campaign

    argv = ["--smoke", "--models", "ClusterGAN-twin", "--device", "cpu"]
    with pytest.raises(SystemExit, match=r"optim\.lr"):
        campaign.campaign(campaign.parse_args([*argv, "--set", "optim.lr=1e-3"]))
    (entry,) = [e for e in campaign.MODELS if e.key == "ClusterGAN-twin"]
    sets = campaign.twin_sets(entry, campaign.parse_args([*argv, "--set", "train.seed=3"]))
    assert sets == ["train.device=cpu", "train.seed=3", "train.steps=2", "eval.every=2"]
