"""Errors inside a forward: a shape mismatch at a call's first execution is a spec error
(with the original exception chained); the same call failing later is not; running out
of memory says so; `gan --traceback` / GAN_DEBUG=1 print the whole chain."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from gan.cli import app
from gan.core.errors import SpecError, TrainingError
from gan.testing import tiny_engine


def test_first_shape_mismatch_is_a_spec_error_with_its_cause():
    engine = tiny_engine("bigan", "networks.G.latent_dim=7")
    with pytest.raises(SpecError, match="Check the sizes") as info:
        engine.step()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_call_that_ran_before_fails_with_its_own_error():
    engine = tiny_engine("bigan")
    engine.step()
    net = engine.networks["D"]

    def broken(*args):
        raise RuntimeError("boom inside a plugin")

    net.forward = broken
    with pytest.raises(RuntimeError, match="boom inside a plugin"):
        engine.step()


def test_out_of_memory_says_so():
    engine = tiny_engine("bigan")

    def oom(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    engine.networks["G"].forward = oom
    with pytest.raises(TrainingError, match="Out of CPU memory") as info:
        engine.step()
    assert "train.batch_size" in str(info.value)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_traceback_on_request(how, monkeypatch):
    args = ["inspect", "bigan", "--set", "networks.G.latent_dim=7"]
    if how == "flag":
        args = ["--traceback", *args]
    else:
        monkeypatch.setenv("GAN_DEBUG", "1")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.output
    assert "RuntimeError" in result.output  # the cause, chained
    plain = CliRunner().invoke(app, args[1:] if how == "flag" else args, env={"GAN_DEBUG": ""})
    assert plain.exit_code == 2 and "Traceback" not in plain.output
