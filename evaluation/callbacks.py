"""The trainer's sample grids and ``[eval] every`` evaluation, as event-hook callbacks.

Attached to each run by :func:`gan_train_start`, like every other callback
(:mod:`gan.training.callbacks`). The evaluation keeps ``checkpoints/best.safetensors`` by
``eval.best``; model selection reads the validation split when there is one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gan.core.errors import CheckpointError
from gan.core.hooks import hookimpl
from gan.evaluation import health
from gan.evaluation.evaluate import Evaluation, check_best_key, is_better, run_metrics
from gan.evaluation.sampling import sample_grid, save_grid
from gan.training import checkpoint, runinfo
from gan.training.checkpoint import BEST

if TYPE_CHECKING:
    from gan.training.trainer import Trainer


class SampleGrids:
    """``samples/step_*.png`` every ``train.sample_every`` steps (scaled to the run where
    unset: :meth:`Trainer.intervals`) and at the last step."""

    def __init__(self, every: int) -> None:
        self.every = every

    @hookimpl
    def gan_step_end(self, trainer: Trainer, step: int) -> None:
        if step % self.every and not trainer.is_last_step(step):
            return
        spec, engine = trainer.spec, trainer.engine
        # a stream of its own, re-seeded each time: grids are comparable across steps
        # and drawing them does not move the training stream
        gen = torch.Generator(engine.sampler_generator.device).manual_seed(spec.train.seed + 2)
        assert trainer.sample_data is not None  # set when the run starts
        images, labels = trainer.sample_data
        grid = sample_grid(engine, images, labels, spec.sample.n, gen)
        path = trainer.out / "samples" / f"step_{step:08d}.png"
        low, high = spec.data.range
        save_grid(grid, path, (low, high))
        trainer.hook.gan_samples_saved(trainer=trainer, step=step, path=path, grid=grid)


class Evaluate:
    """``[eval] every = N``: metrics every N steps and at the last step (only at the last
    when ``every`` is None); the best checkpoint by ``eval.best``."""

    def __init__(self, trainer: Trainer, every: int | None) -> None:
        self.every = every
        self.evaluation: Evaluation | None = None  # built at the first evaluation
        self.best: float | None = None

    def check_split(self, trainer: Trainer) -> None:
        """Read the split at the start: one too small to evaluate fails before training."""
        self._evaluation(trainer).data()

    def _evaluation(self, trainer: Trainer) -> Evaluation:
        if self.evaluation is None:
            # model selection reads the validation split, never the test split
            split = "val" if trainer.spec.data.val else trainer.spec.eval.split
            self.evaluation = Evaluation(
                trainer.engine, trainer.load_split, quiet=trainer.quiet, split=split
            )
        return self.evaluation

    @hookimpl
    def gan_step_end(self, trainer: Trainer, step: int) -> None:
        due = self.every is not None and step % self.every == 0
        if not due and not trainer.is_last_step(step):
            return
        spec = trainer.spec
        self._evaluation(trainer)
        assert self.evaluation is not None
        # an evaluation never moves the training's process-wide random streams: a run
        # that evaluates at step N resumes from there as one that did not (exact resume)
        device = trainer.engine.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            results = run_metrics(self.evaluation)
        self.evaluation.reset_model_outputs()
        trainer.hook.gan_eval_end(
            trainer=trainer, step=step, split=self.evaluation.split, results=results
        )
        values = " ".join(f"{k}={v:.4g}" for k, v in results.items())
        trainer.notice(f"eval step {step} ({self.evaluation.split} split): {values}")
        if spec.eval.health and trainer.dist.is_main:
            self._check_health(trainer, step, results)
        e = spec.eval
        if e.best is None:
            return
        check_best_key(spec, results)
        if is_better(results[e.best], self._best_value(trainer), e.best_mode):
            path = trainer.save_checkpoint(
                trainer.engine,
                BEST,
                extra={"best_metric": e.best, "best_value": repr(results[e.best])},
            )
            self.best = results[e.best]
            trainer.notice(f"eval: new best {e.best}={results[e.best]:.4g} → {path}")

    def _check_health(self, trainer: Trainer, step: int, results: dict[str, float]) -> None:
        """``[eval.health]``: flags from this evaluation and the run's history, said in
        the console and kept in run.json."""
        evals, logs = health.run_history(trainer.out)
        evals = [e for e in evals if e.get("step") != step] + [{"step": step, **results}]
        raised = health.flags(trainer.spec.eval.health, evals, logs)
        runinfo.record_health(trainer.out, step, raised)
        if raised:
            trainer.notice(f"eval step {step}: " + health.describe(raised))

    def _best_value(self, trainer: Trainer) -> float | None:
        """The best value so far; after a resume, read from best.safetensors."""
        if self.best is None:
            path = trainer.out / "checkpoints" / BEST
            if path.is_file():
                try:
                    meta = checkpoint.load(path)[1]
                    if meta.get("best_metric") == trainer.spec.eval.best:
                        self.best = float(meta["best_value"])
                except (CheckpointError, KeyError, ValueError):
                    self.best = None  # unreadable: the next evaluation replaces it
        return self.best


@hookimpl
def gan_train_start(trainer: Trainer) -> None:
    # called in reverse order of attachment: the samples of a step come first
    # [eval] every unset: one evaluation at the end, so that every run with metrics
    # reports a figure (in the console, metrics.jsonl and `gan report`)
    if trainer.spec.eval.every is not None or trainer.spec.eval.metrics:
        evaluate = Evaluate(trainer, trainer.spec.eval.every)
        evaluate.check_split(trainer)
        trainer.add_callback(evaluate)
    if trainer.spec.sample.node is not None and trainer.dist.is_main:
        trainer.add_callback(SampleGrids(trainer.sample_every))
