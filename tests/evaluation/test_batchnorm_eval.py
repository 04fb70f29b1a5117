"""``[eval] batchnorm``: the running statistics, each batch's own, or statistics
re-estimated over training batches before evaluating; training is left as it was."""

from __future__ import annotations

import copy
import json

import torch
from helpers import tiny_gan
from typer.testing import CliRunner

from gan.cli import app
from gan.core.build import build_engine
from gan.core.spec import spec_from_dict
from gan.evaluation.batchnorm import batchnorm_mode, norms
from gan.evaluation.evaluate import Evaluation


def _spec(**eval_) -> dict:
    bn = {"batchnorm": True, "batchnorm_first": True}
    return tiny_gan("bn-eval", g=bn, d=bn) | {
        "train": {"batch_size": 8, "device": "cpu"},
        "eval": {"metrics": {"recon": {"type": "reconstruction", "node": "x_fake"}}, **eval_},
    }


IMAGES = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _evaluation(**eval_) -> Evaluation:
    engine = build_engine(spec_from_dict(_spec(**eval_)), torch.device("cpu"))
    return Evaluation(engine, lambda split: (IMAGES, torch.zeros(len(IMAGES), dtype=torch.long)))


def _fakes(ev: Evaluation) -> torch.Tensor:
    engine = ev.engine
    z = {"z": torch.randn(8, 3, generator=torch.Generator().manual_seed(1))}
    with engine.eval_mode(), batchnorm_mode(ev):
        return engine.compute(["x_fake"], {"x": IMAGES[:8], "y": IMAGES[:8], **z})["x_fake"]


def _buffers(engine) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in engine.networks.state_dict().items()}


def test_running_and_batch_statistics_differ_and_training_is_untouched():
    outputs = {}
    for mode in ("running", "batch"):
        ev = _evaluation(batchnorm=mode)
        g_norm = norms(ev.engine.networks["G"])[0]
        with torch.no_grad():
            g_norm.running_mean.fill_(5.0)  # skewed running statistics
        before = _buffers(ev.engine)
        reference = copy.deepcopy(ev.engine.networks["G"])
        outputs[mode] = _fakes(ev)
        after = _buffers(ev.engine)
        assert before.keys() == after.keys()
        for key in before:
            assert torch.equal(before[key], after[key]), key
        assert all(m.training for m in ev.engine.networks.modules())  # as before
        z = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = reference.train(mode == "batch")(z)
        torch.testing.assert_close(outputs[mode], expected)
    assert (outputs["running"] - outputs["batch"]).abs().max() > 1e-3


def test_reestimate_accumulates_over_training_batches_then_restores():
    batches = 3
    ev = _evaluation(batchnorm="reestimate", batchnorm_batches=batches)
    engine = ev.engine
    layer = norms(engine.networks["D"])[0]
    seen: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda m, a, o: seen.append(a[0].detach().clone()))
    before, stream = _buffers(engine), engine.sampler_generator.get_state()
    inside: dict[str, torch.Tensor] = {}
    with engine.eval_mode(), batchnorm_mode(ev):
        inside = {"mean": layer.running_mean.clone(), "var": layer.running_var.clone()}
        assert not layer.training  # evaluation reads the re-estimated running statistics
    hook.remove()
    # D ran on real and generated batches of each training batch: 2 per batch
    assert len(seen) == 2 * batches and all(len(s) == 8 for s in seen)
    means = torch.stack([s.mean(0) for s in seen]).mean(0)
    variances = torch.stack([s.var(0, unbiased=True) for s in seen]).mean(0)
    torch.testing.assert_close(inside["mean"], means)
    torch.testing.assert_close(inside["var"], variances)
    for key, value in _buffers(engine).items():
        assert torch.equal(value, before[key]), key
    assert torch.equal(engine.sampler_generator.get_state(), stream)
    assert all(m.momentum == 0.1 for m in norms(engine.networks))


def test_gan_eval_sets_the_mode_on_an_existing_run(tmp_path):
    from gan.training.trainer import Trainer

    spec = spec_from_dict(_spec(), ["train.steps=2", "train.checkpoint_every=2"])
    Trainer(spec, tmp_path / "run", quiet=True).run()
    runner = CliRunner()
    figures = {}
    for mode in ("running", "batch", "reestimate"):
        result = runner.invoke(
            app,
            [
                "eval",
                str(tmp_path / "run"),
                "--json",
                "--set",
                f"eval.batchnorm={mode}",
                "--set",
                "eval.batchnorm_batches=2",
                "--set",
                "eval.limit=32",
            ],
        )
        assert result.exit_code == 0, result.output
        figures[mode] = json.loads(result.output)["metrics"]["recon/mse"]
    assert len(set(figures.values())) == 3, figures
    bad = runner.invoke(app, ["eval", str(tmp_path / "run"), "--set", "eval.batchnorm=batches"])
    assert bad.exit_code == 2 and "eval.batchnorm" in bad.output
