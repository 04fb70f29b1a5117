"""Whole-step CUDA graphs (gan.core.graphs): the decision, its reasons and the message
a CPU run gives (the capture itself needs a GPU: bench/gpu_check.sh exercises it)."""

from __future__ import annotations

import pytest
import torch

from gan.core import graphs
from gan.core.build import build_engine
from gan.core.spec import load_spec
from gan.training.trainer import Trainer

SMALL = [
    "data.source=digits",
    "data.image_size=8",
    "data.limit=64",
    "train.batch_size=16",
    "train.device=cpu",
    "networks.E.hidden=8",
    "networks.Dec.hidden=8",
    "networks.D.hidden=8",
]


def engine(*extra: str):
    return build_engine(load_spec("aae", [*SMALL, *extra]), "cpu")


def test_choice_on_the_cpu() -> None:
    e = [engine()]
    assert graphs.choose(None, e) == graphs.choose(False, e)
    assert graphs.choose(None, e).value == "eager"
    for setting in (True, "auto"):
        choice = graphs.choose(setting, e)
        assert choice.value == "eager" and "need a GPU" in choice.reason and "cpu" in choice.reason
    assert graphs.refusal("auto", torch.device("cpu")) is None  # auto says it in the choice line
    assert graphs.refusal(False, torch.device("cpu")) is None
    message = graphs.refusal(True, torch.device("cpu"))
    assert message is not None and "train.cuda_graph = true" in message and "eagerly" in message
    assert graphs.refusal(True, torch.device("cuda")) is None


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("train.on_nan=skip", "on_nan"),
        ('phases.discriminator.schedule={type = "multistep", milestones = [10]}', "schedule"),
        ("phases.discriminator.fresh_batch=true", "'discriminator' draws a fresh batch"),
    ],
)
def test_what_cannot_be_captured_is_named(extra: str, named: str) -> None:
    assert graphs.obstacle([engine()]) is None
    reason = graphs.obstacle([engine(extra)])
    assert reason is not None and named in reason


def test_cuda_graph_true_on_the_cpu_trains_eagerly_and_says_so(tmp_path, capsys) -> None:
    spec = load_spec("aae", [*SMALL, "train.steps=2", "train.cuda_graph=true"])
    trainer = Trainer(spec, tmp_path / "run")
    assert trainer.run() == 2
    err = capsys.readouterr().err
    assert "train.cuda_graph = true needs a CUDA GPU" in err
    assert trainer.graph_choice.value == "eager"
    assert '"cuda_graph"' in (tmp_path / "run" / "run.json").read_text()
