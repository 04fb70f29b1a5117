"""Checkpoints: safetensors round trip, exact continuation, and hostile files."""

from __future__ import annotations

import pickle

import pytest
import torch
from typer.testing import CliRunner

from gan.cli import app
from gan.core.errors import CheckpointError
from gan.testing import assert_same_parameters, tiny_engine
from gan.training import checkpoint, state


def saved(engine, path):
    tensors, meta = state.state_tensors(engine)
    return checkpoint.save(path, tensors, {**meta, "spec_json": "{}"})


def test_round_trip_restores_everything(tmp_path):
    engine = tiny_engine("bigan")
    for _ in range(3):
        engine.step()
    path = saved(engine, tmp_path / "c.safetensors")
    fresh = tiny_engine("bigan", "train.seed=123")  # different init, RNG and data order
    state.load_state_tensors(fresh, *checkpoint.load(path))
    assert fresh.step_count == 3
    assert_same_parameters(fresh.networks, engine.networks, rtol=0, atol=0)
    for name, opt in engine.optimizers.items():
        a, b = opt.state_dict()["state"], fresh.optimizers[name].state_dict()["state"]
        for idx in a:
            for key in a[idx]:
                assert torch.equal(a[idx][key], b[idx][key])
    # continuing from the checkpoint is bit-identical to continuing the original
    for _ in range(2):
        engine.step()
        fresh.step()
    assert_same_parameters(fresh.networks, engine.networks, rtol=0, atol=0)


def test_pickle_file_is_refused_without_loading(tmp_path):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="pickle"):
        checkpoint.load(path)
    torch.save({"w": torch.zeros(2)}, tmp_path / "torch.safetensors")
    with pytest.raises(CheckpointError, match="pickle"):
        checkpoint.load(tmp_path / "torch.safetensors")
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not-gan"])
def test_damaged_checkpoint_is_a_clear_error(tmp_path, damage):
    engine = tiny_engine("bigan")
    path = saved(engine, tmp_path / "c.safetensors")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + data[40:])
    else:
        from safetensors.torch import save_file

        save_file({"w": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError):
        checkpoint.load(path)


def test_checkpoint_of_another_spec_is_refused(tmp_path):
    engine = tiny_engine("bigan")
    path = saved(engine, tmp_path / "c.safetensors")
    other = tiny_engine(
        "bigan", "networks.G.hidden=64", "networks.E.hidden=64", "networks.D.hidden=64"
    )
    with pytest.raises(CheckpointError, match="shape"):
        state.load_state_tensors(other, *checkpoint.load(path))


def test_resume_from_pickle_exits_2_and_leaves_files(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    bad = out / "checkpoints" / "step_00000002.safetensors"
    torch.save({"w": torch.zeros(2)}, bad)
    before = bad.read_bytes()
    result = CliRunner().invoke(
        app,
        [
            "run",
            "bigan",
            "--out",
            str(out),
            "--resume",
            "--quiet",
            "--set",
            "data.source=digits",
            "--set",
            "train.steps=3",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "pickle" in result.output and "Traceback" not in result.output
    assert bad.read_bytes() == before


def test_keep_last_k(tmp_path):
    folder = tmp_path / "checkpoints"
    engine = tiny_engine("bigan")
    for step in range(1, 6):
        engine.step_count = step
        path = saved(engine, folder / checkpoint.checkpoint_name(step))
        checkpoint.commit(folder, path, keep=2)
    names = [p.name for p in checkpoint.list_checkpoints(folder)]
    assert names == ["step_00000004.safetensors", "step_00000005.safetensors"]
    assert checkpoint.latest(folder).name == "step_00000005.safetensors"


def test_safetensors_whose_first_byte_is_0x80_is_not_taken_for_a_pickle(tmp_path):
    # the header length is little endian: 1 checkpoint in 256 starts with 0x80, like a
    # pickle; such a checkpoint must load (it once failed resume as "a pickle file")
    path = tmp_path / "c.safetensors"
    for pad in range(300):
        checkpoint.save(path, {"w": torch.ones(3)}, {"pad": "x" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    tensors, _ = checkpoint.load(path)
    assert torch.equal(tensors["w"], torch.ones(3))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickles_of_every_protocol_are_refused(tmp_path, protocol):
    path = tmp_path / "p.safetensors"
    path.write_bytes(pickle.dumps({"w": [1.0]}, protocol=protocol))
    with pytest.raises(CheckpointError, match="pickle"):
        checkpoint.load(path)
