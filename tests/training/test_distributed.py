"""Multi-process training on CPU with gloo: 2 processes agree with each other and with
one process of twice the batch; only rank 0 writes; checkpoints resume in 1 process;
`gan run --nproc 2` works end to end."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest
import torch
from distributed_worker import (
    EQUIVALENCE_STEPS,
    PER_RANK,
    TRAINER_OVERRIDES,
    WORLD,
    tiny_engine,
    trainer_spec,
    worker,
)
from safetensors.torch import load_file
from typer.testing import CliRunner

from gan.cli import app
from gan.core.data import BatchSource
from gan.core.errors import SpecError
from gan.testing import tiny_engine as tiny_single_engine
from gan.training import distributed
from gan.training.trainer import Trainer

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed is not available"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """One 2-process spawn for all the tests that inspect what the ranks did."""
    folder = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(worker, args=(free_port(), str(folder)), nprocs=WORLD)
    return folder


def test_ranks_end_with_identical_parameters(two_processes):
    a = load_file(two_processes / "trainer_params_0.safetensors")
    b = load_file(two_processes / "trainer_params_1.safetensors")
    assert a.keys() == b.keys() and a
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _logged_steps(run) -> list[int]:
    """The steps of the training log lines (the final evaluation's line left out)."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [line["step"] for line in lines if not any(k.startswith("eval/") for k in line)]


def test_only_rank_0_writes_and_logged_losses_are_finite(two_processes):
    run = two_processes / "run_0"
    assert not (two_processes / "run_1").exists(), "rank 1 wrote a run folder"
    assert (run / "spec.toml").is_file()
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*.safetensors")) == [
        "step_00000002.safetensors",
        "step_00000004.safetensors",
    ]
    assert sorted(p.name for p in (run / "samples").glob("*.png"))
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    lines = [line for line in lines if not any(k.startswith("eval/") for k in line)]
    assert _logged_steps(run) == [2, 4]  # one line per log step, not per rank
    for line in lines:
        losses = {k: v for k, v in line.items() if "/" in k}
        assert losses and all(math.isfinite(v) for v in losses.values()), line


def test_an_error_on_rank_0_stops_every_rank_with_its_message(two_processes):
    shown_0, message_0 = (two_processes / "refused_0.txt").read_text().split("|", 1)
    shown_1, message_1 = (two_processes / "refused_1.txt").read_text().split("|", 1)
    assert "already holds a run" in message_0 and message_1 == message_0
    assert (shown_0, shown_1) == ("False", "True")  # the command line prints it once


def test_two_processes_match_one_process_with_twice_the_batch(two_processes):
    reference = tiny_engine(rank=0, world=1)  # batch 2B, the same real and latent data
    for _ in range(EQUIVALENCE_STEPS):
        reference.step()
    for rank in range(WORLD):
        got = load_file(two_processes / f"tiny_params_{rank}.safetensors")
        for name, net in reference.networks.items():
            for key, p in net.named_parameters():
                torch.testing.assert_close(got[f"{name}.{key}"], p.detach(), rtol=1e-5, atol=1e-6)


def test_two_process_checkpoint_resumes_in_one_process(two_processes):
    run = two_processes / "run_0"
    saved = int(load_file(run / "checkpoints" / "step_00000004.safetensors")["data.position"])
    draws_per_step = saved // 4  # the critic's fresh batch draws twice per step
    trainer = Trainer(trainer_spec("train.steps=6"), run, resume=True, quiet=True)
    assert trainer.run() == 6
    assert _logged_steps(run) == [2, 4, 6]
    # the position counted global batches of 2 × 8; one process goes on with batches of 8
    assert trainer.engine.data.position == WORLD * saved + 2 * draws_per_step


def test_ranks_take_slices_of_the_single_process_batches():
    images = torch.arange(100).float().view(100, 1, 1, 1)
    labels = torch.arange(100)
    cpu = torch.device("cpu")
    single = BatchSource(images, labels, 2 * PER_RANK, 0, cpu)
    ranks = [BatchSource(images, labels, PER_RANK, 0, cpu, r, WORLD) for r in range(WORLD)]
    assert single.batches_per_epoch == ranks[0].batches_per_epoch == 6
    for _ in range(15):  # across epoch boundaries
        whole = single.next()["y"]
        assert torch.equal(torch.cat([r.next()["y"] for r in ranks]), whole)
    # a checkpoint written by 2 ranks continues in 1 process at the same example
    state = ranks[0].state_dict()
    one = BatchSource(images, labels, PER_RANK, 0, cpu)
    one.load_state_dict(state)
    assert one.position == ranks[0].position * WORLD
    assert torch.equal(one.next()["y"], single.next()["y"][:PER_RANK])


def test_sync_batchnorm_on_cpu_is_a_clear_error():
    engine = tiny_single_engine("clustergan_mlp", "train.sync_batchnorm=true", "data.image_size=8")
    ctx = distributed.Context(rank=0, world_size=2)  # never reaches a collective
    with pytest.raises(SpecError, match="SyncBatchNorm runs only on GPUs"):
        distributed.prepare_engine(engine, ctx)


def test_nproc_under_torchrun_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(
        app, ["run", "clustergan_mlp", "--nproc", "2", "--set", "data.source=digits"]
    )
    assert result.exit_code == 2
    assert "already runs under torchrun" in result.output
    assert "Traceback" not in result.output


def test_gan_run_nproc_2_end_to_end(tmp_path):
    out = tmp_path / "run"
    sets = [arg for item in TRAINER_OVERRIDES for arg in ("--set", item)]
    cmd = [sys.executable, "-m", "gan", "run", "clustergan_mlp", "--nproc", "2", "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*cmd, "--out", str(out), *sets],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.count("done: 4 steps") == 1  # printed by rank 0 only
    assert (out / "checkpoints" / "step_00000004.safetensors").is_file()
    assert _logged_steps(out) == [2, 4]


def test_channels_last_trains_conv_networks():
    engine = tiny_single_engine(
        "infogan", "train.channels_last=true", "data.image_size=8", batch_size=4
    )
    distributed.prepare_engine(engine, distributed.Context())
    convs = [p for p in engine.networks.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    losses = engine.step().losses
    assert losses and all(bool(torch.isfinite(v)) for v in losses.values())
