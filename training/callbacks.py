"""The trainer's own side jobs, as event-hook callbacks: metrics.jsonl, TensorBoard, the
progress bar, checkpoints and the wall-clock budget.

Each is a small object whose methods are ``@hookimpl`` s of the trainer's events
(:class:`gan.training.events.GanEventSpecs`); this module's :func:`gan_train_start` attaches
them to each run, exactly as a third-party plugin attaches its own (e.g. the CSV logger of
``examples/gan-plugin-lsgan``). Sample grids and ``[eval] every`` live in
:mod:`gan.evaluation.callbacks`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from gan.core.errors import GanError
from gan.core.hooks import hookimpl

if TYPE_CHECKING:
    from gan.training.trainer import Trainer


class MetricsFile:
    """``metrics.jsonl``: one JSON object per log step and per evaluation."""

    def __init__(self, trainer: Trainer) -> None:
        path = trainer.out / "metrics.jsonl" if trainer.dist.is_main else os.devnull
        self.file = open(path, "a")  # noqa: SIM115 - closed at gan_train_end

    def _write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    @hookimpl
    def gan_log(
        self, trainer: Trainer, step: int, losses: dict[str, float], steps_per_s: float
    ) -> None:
        self._write(
            {
                "step": step,
                "epoch": trainer.engine.data.epoch,
                "time": time.time(),
                "steps_per_s": round(steps_per_s, 3),
                **losses,
            }
        )

    @hookimpl
    def gan_eval_end(self, step: int, split: str, results: dict[str, float]) -> None:
        self._write(
            {
                "step": step,
                "time": time.time(),
                "split": split,
                **{f"eval/{k}": v for k, v in results.items()},
            }
        )

    @hookimpl
    def gan_train_end(self) -> None:
        self.file.close()


class TensorBoard:
    """``[log] tensorboard = true``: every loss term, steps/s, eval metrics and grids."""

    def __init__(self, trainer: Trainer) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GanError(
                "log.tensorboard = true needs the tensorboard package: "
                "pip install 'gan[tensorboard]' (or set log.tensorboard = false)."
            ) from None
        self.writer = SummaryWriter(
            str(trainer.out / "tensorboard"), purge_step=trainer.engine.step_count
        )
        self.value_range = tuple(trainer.spec.data.range)

    @hookimpl
    def gan_log(self, step: int, losses: dict[str, float], steps_per_s: float) -> None:
        for key, value in {**losses, "steps_per_s": steps_per_s}.items():
            self.writer.add_scalar(key, value, step)

    @hookimpl
    def gan_eval_end(self, step: int, results: dict[str, float]) -> None:
        for key, value in results.items():
            self.writer.add_scalar(f"eval/{key}", value, step)

    @hookimpl
    def gan_samples_saved(self, step: int, grid: Any) -> None:
        from torchvision.utils import make_grid

        image = make_grid(grid.images, nrow=grid.nrow, normalize=True, value_range=self.value_range)
        self.writer.add_image("samples", image, step)

    @hookimpl
    def gan_train_end(self) -> None:
        self.writer.close()


class Progress:
    """A rich progress bar on a terminal; plain log lines otherwise (CI, pipes)."""

    def __init__(self, total: int, start: int, quiet: bool = False) -> None:
        self.total = total
        self.quiet = quiet
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=total, completed=start, info="")

    def update(self, step: int, values: dict[str, float], rate: float) -> None:
        info = f"{rate:.1f} it/s " + " ".join(f"{k}={v:.4g}" for k, v in values.items())
        if self.bar is not None:
            self.bar.update(self.task, completed=step, info=info)
        elif not self.quiet:
            print(f"step {step}/{self.total} {info}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()

    @hookimpl
    def gan_log(self, step: int, losses: dict[str, float], steps_per_s: float) -> None:
        self.update(step, losses, steps_per_s)

    @hookimpl
    def gan_train_end(self) -> None:
        self.close()


class Checkpoints:
    """A checkpoint every ``train.checkpoint_every`` steps and at the last step."""

    def __init__(self, every: int) -> None:
        self.every = every

    @hookimpl(trylast=True)  # after the samples and the evaluation of the same step
    def gan_step_end(self, trainer: Trainer, step: int) -> None:
        if step % self.every == 0 or trainer.is_last_step(step):
            trainer.check_losses(step)
            trainer.save_checkpoint(trainer.engine)


class Deadline:
    """``train.max_minutes``: the run ends (with samples, evaluation and a checkpoint)
    at the first step past the budget — the same step on every process."""

    def __init__(self, minutes: float) -> None:
        self.minutes = minutes
        self.deadline = time.monotonic() + 60.0 * minutes

    @hookimpl(tryfirst=True)  # the other jobs of this step must know it is the last
    def gan_step_end(self, trainer: Trainer, step: int) -> None:
        late = time.monotonic() > self.deadline
        if trainer.agreed(int(late), step):
            trainer.stop(
                f"train.max_minutes = {self.minutes} reached at step {step}; "
                f"checkpoint saved (continue with --resume and a larger budget)."
            )


@hookimpl
def gan_train_start(trainer: Trainer) -> None:
    t = trainer.spec.train
    trainer.add_callback(MetricsFile(trainer))
    trainer.add_callback(Progress(trainer.total, trainer.engine.step_count, trainer.quiet))
    if trainer.spec.log.tensorboard and trainer.dist.is_main:
        trainer.add_callback(TensorBoard(trainer))
    trainer.add_callback(Checkpoints(t.checkpoint_every))
    if t.max_minutes is not None:
        trainer.add_callback(Deadline(t.max_minutes))


__all__ = ["Checkpoints", "Deadline", "MetricsFile", "Progress", "TensorBoard"]
