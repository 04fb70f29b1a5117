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


# -- messages that name the right culprit -----------------------------------------------


def test_a_validation_fraction_that_leaves_nothing_is_named_as_written():
    from gan.core.data import validation_indices
    from gan.core.errors import DataError

    with pytest.raises(DataError, match=r"data.val = 0.99999 \(1437 of 1437 examples\)"):
        validation_indices(1437, 0.99999, 0)


def test_a_bad_set_on_a_stored_spec_blames_the_set_not_the_spec():
    from helpers import read_spec

    from gan.core.spec import spec_from_dict

    stored = read_spec("bigan")
    with pytest.raises(SpecError, match=r"with --set eval.split=nonsense is not a valid") as err:
        spec_from_dict(stored, ["eval.split=nonsense"], "'run/checkpoints/best.safetensors'")
    assert "eval.split" in str(err.value)
    stored["train"]["steps"] = -3  # the stored spec's own fault: it stays named alone
    with pytest.raises(SpecError, match=r"best.safetensors' is not a valid"):
        spec_from_dict(stored, ["eval.split=test"], "'run/checkpoints/best.safetensors'")


def test_a_missing_base_says_where_it_looked_and_never_reads_the_current_folder(
    tmp_path, monkeypatch
):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    shutil.copy(Path(__file__).parents[1] / "specs" / "bigan.toml", here / "base.toml")
    (there / "variant.toml").write_text('extends = "base.toml"\nname = "v"\n')
    monkeypatch.chdir(here)  # a base.toml in the current folder must not be picked up
    with pytest.raises(SpecError, match="not found: looked for") as err:
        load_spec(there / "variant.toml")
    assert str(there / "base.toml") in str(err.value)
    (there / "base.toml").write_text((here / "base.toml").read_text())
    assert load_spec(there / "variant.toml").name == "v"


def test_an_unknown_best_key_fails_at_load_time_with_a_suggestion():
    from gan.core.resolve import resolve

    with pytest.raises(SpecError, match="has no key 'knn1_acx'") as err:
        resolve(load_spec("bigan", ["eval.best=probe_feat/knn1_acx"]))
    assert "probe_feat/*_acc" in str(err.value)  # the keys it could be
    assert resolve(load_spec("bigan", ["eval.best=probe_feat/knn1_acc"]))


def test_init_from_a_spec_written_without_spaces_renames_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "tight.toml"
    text = (Path(__file__).parents[1] / "specs" / "cgan.toml").read_text()
    source.write_text(text.replace('name = "cgan"', 'name="cgan"'))
    result = runner.invoke(app, ["init", "fresh", "--from", str(source)])
    assert result.exit_code == 0, result.output
    written = load_spec(tmp_path / "fresh.toml")
    assert written.name == "fresh"


def test_a_validation_split_too_small_to_evaluate_fails_before_training(tmp_path):
    out = tmp_path / "run"
    settings = ["data.source=digits", "data.val=1", "train.steps=3", "eval.every=1"]
    args = ["run", "cgan", "--out", str(out)]
    for item in settings:
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "holds 1 example(s)" in result.output and "Traceback" not in result.output
    metrics = out / "metrics.jsonl"
    assert not metrics.exists() or not metrics.read_text().strip()  # no step was trained
