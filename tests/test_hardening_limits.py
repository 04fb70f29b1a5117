"""Numeric limits, resource caps and one-run-twice: each a clear message or a correct
result, never a traceback (issue #28)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gan.cli import app
from gan.core.errors import SpecError
from gan.core.limits import SEED_MAX, max_processes
from gan.core.spec import load_spec

runner = CliRunner()


def test_nproc_above_what_the_machine_has_is_refused_before_anything_starts():
    for n in (max_processes() + 1, 10**23):
        result = runner.invoke(app, ["run", "bigan", "--nproc", str(n)])
        assert result.exit_code == 2, result.output
        assert "at most" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("key", ["train.seed", "data.val_seed", "eval.seed"])
def test_seeds_outside_64_bits_are_refused_at_load_time(key):
    with pytest.raises(SpecError, match=key.split(".")[1]):
        load_spec("bigan", [f"{key}={2**70}"])
    with pytest.raises(SpecError):
        load_spec("bigan", [f"{key}=-1"])
    assert load_spec("bigan", [f"{key}={SEED_MAX}"])


def test_a_huge_integer_in_a_reference_sum_is_a_clear_error():
    digits = "9" * 5000
    with pytest.raises(SpecError, match="5000 digits"):
        load_spec("bigan", [f'networks.G.latent_dim="${{samplers.z.dim}} + {digits}"'])


def test_the_idx_cache_copy_survives_a_second_reader_at_the_same_time(tmp_path, monkeypatch):
    """Two processes laying out one IDX folder at once: each writes its own temporary
    file (a shared name was renamed away under the other: FileNotFoundError)."""
    from gan.components import data

    monkeypatch.setenv("GAN_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in data.IDX_FILES:
        (folder / name).write_bytes(name.encode() * 10)
    real_copy = shutil.copyfile
    nested = []

    def copy_while_another_reader_copies(src, dst, *a, **k):
        if not nested:  # the other process, in the middle of this one's copy
            nested.append(True)
            data._torchvision_root_from_idx(folder, "MNIST")
        return real_copy(src, dst, *a, **k)

    monkeypatch.setattr(data.shutil, "copyfile", copy_while_another_reader_copies)
    root = data._torchvision_root_from_idx(folder, "MNIST")
    raw = root / "MNIST" / "raw"
    for name in data.IDX_FILES:
        assert (raw / name).read_bytes() == name.encode() * 10
    assert not [p for p in raw.iterdir() if p.name.endswith(".tmp")]


def _run(folder: Path) -> Path:
    folder.mkdir()
    spec = (Path(__file__).resolve().parents[1] / "specs" / "bigan.toml").read_text()
    (folder / "spec.toml").write_text(spec)
    line = {"step": 2, "split": "val", "eval/probe_feat/knn1_acc": 0.5}
    (folder / "metrics.jsonl").write_text(json.dumps(line) + "\n")
    return folder


def test_compare_counts_one_run_named_twice_once(tmp_path):
    run = _run(tmp_path / "a")
    result = runner.invoke(app, ["compare", str(run), str(tmp_path / "." / "a"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (group,) = data["groups"]
    assert len(group["runs"]) == 1 and data["warnings"]


@pytest.mark.parametrize(
    "setting",
    [
        'phases.discriminator.schedule={type="multistep", milestones=[nan]}',
        'phases.discriminator.schedule={type="multistep", milestones=[-5]}',
        'phases.discriminator.schedule={type="multistep", milestones=[5], gamma=inf}',
        'phases.discriminator.schedule={type="linear_decay", decay=inf}',
        'phases.discriminator.schedule={type="linear_decay", decay=10, hold=inf}',
        "phases.discriminator.losses.d_real=nan",
        "train.epochs=inf",
        "data.range=[0, inf]",
    ],
)
def test_numbers_that_are_not_finite_are_refused_at_load_time(setting):
    with pytest.raises(SpecError, match="is not a valid spec"):
        load_spec("bigan", [setting])


def test_an_undefined_huge_reference_is_echoed_short():
    name = "a" * 600_000
    with pytest.raises(SpecError) as info:
        load_spec("bigan", [f'networks.G.latent_dim="${{{name}}}"'])
    assert len(str(info.value)) < 1000


def test_a_reference_to_a_default_says_only_written_keys_resolve():
    with pytest.raises(SpecError, match="Only keys written in the spec"):
        load_spec("bigan", ['networks.G.latent_dim="${train.compile}"'])
