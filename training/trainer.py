"""The training loop around the engine: logging, samples, checkpoints, resume and
signals (the run folder itself: :mod:`gan.training.runfolder`). Step-based: everything
is a function of the step counter.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import time
from pathlib import Path

import torch

from gan.core.build import build_engine
from gan.core.data import load_data
from gan.core.engine import Engine
from gan.core.errors import GanError, PluginError, TrainingError
from gan.core.resolve import ResolvedSpec, resolve
from gan.core.spec import Spec
from gan.training import checkpoint, distributed, runfolder, runinfo, state


class Trainer:
    """Runs a spec into a run folder; ``run()`` returns the final step."""

    def __init__(
        self,
        spec: Spec,
        out: str | Path,
        *,
        resume: bool = False,
        force: bool = False,
        model: ResolvedSpec | None = None,
        quiet: bool = False,
        dist: distributed.Context | None = None,
    ) -> None:
        self.spec = spec
        self.out = Path(out)
        self.resume = resume
        self.force = force
        self.quiet = quiet
        self.model = model or resolve(spec)
        # Under torchrun the rank and its device come from the environment; only rank 0
        # writes the run folder or prints (docs/distributed.md).
        self.dist = dist or distributed.context_from_env(spec.train.device)
        self.device = self.dist.device
        self.quiet = quiet or not self.dist.is_main
        self._stop_signal: int | None = None
        self.stop_reason: str | None = None  # set by a callback that ends the run
        self.total = 0  # the step the run ends at, known once the data is loaded
        self._callbacks: list[object] = []  # attached for the run (add_callback)
        self._sums: dict[str, torch.Tensor] = {}  # loss terms since the last log step
        self._n = 0
        self._train_data: tuple[torch.Tensor, torch.Tensor] | None = None
        self.sample_data: tuple[torch.Tensor, torch.Tensor] | None = None

    # -- main loop ------------------------------------------------------------------
    def total_steps(self, batches_per_epoch: int) -> int:
        t = self.spec.train
        return t.steps if t.steps is not None else max(1, math.ceil(t.epochs * batches_per_epoch))

    def run(self) -> int:
        images, labels = load_data(self.model)
        ctx = self.dist
        engine = build_engine(
            self.model, self.device, (images, labels), rank=ctx.rank, world_size=ctx.world_size
        )
        distributed.prepare_engine(engine, ctx)
        self.engine = engine
        # Rank 0 alone touches the run folder (once everything else has worked) and reads
        # the checkpoint; all ranks get the outcome (or the same error).
        resume_from = ctx.on_main(
            lambda: runfolder.prepare(self.out, resume=self.resume, force=self.force)
        )
        if resume_from is not None:
            tensors, meta = ctx.on_main(lambda: checkpoint.load(resume_from))
            runfolder.check_resume_spec(self.spec, meta, resume_from, self.out, force=self.force)
            state.load_state_tensors(engine, tensors, meta)
            if ctx.is_main:
                runfolder.truncate_metrics(self.out, engine.step_count)
        elif ctx.is_main:
            (self.out / "spec.toml").write_text(self.spec.to_toml())
        distributed.reseed(engine, ctx)
        self.total = self.total_steps(engine.data.batches_per_epoch)
        self._train_data = (images, labels)
        n = min(self.spec.sample.n, len(images))
        self.sample_data = (images[:n], labels[:n])
        old_handlers = self._install_signal_handlers()
        session = None  # run.json: command, machine, versions; steps and seconds at the end
        if ctx.is_main:
            session = runinfo.start_session(
                self.out,
                device=self.device,
                seed=self.spec.train.seed,
                step=engine.step_count,
                world_size=ctx.world_size,
                resumed=resume_from is not None,
                execution={
                    "precision": vars(engine.precision),
                    "compile": vars(engine.compiled),
                },
            )
        if self.spec.train.precision == "auto" or engine.compiled.value == "compiled":
            self.notice(
                f"precision {engine.precision.value} ({engine.precision.reason}); "
                f"{engine.compiled.value} ({engine.compiled.reason})"
            )
        status = "failed"
        try:
            self._loop(engine)
            status = (
                "finished" if engine.step_count >= self.total else "stopped (train.max_minutes)"
            )
        except Interrupted:
            status = "interrupted"
            raise
        finally:
            self._restore_signal_handlers(old_handlers)
            if session is not None:
                runinfo.end_session(self.out, session, step=engine.step_count, status=status)
        return engine.step_count

    def _loop(self, engine: Engine) -> None:
        """Steps until the last one; everything else happens in event callbacks
        (:mod:`gan.training.callbacks`, :mod:`gan.evaluation.callbacks`, plugins)."""
        t = self.spec.train
        hook = self.hook
        last_time = time.perf_counter()
        last_step = engine.step_count
        engine.train_mode(True)
        try:
            hook.gan_train_start(trainer=self)
            while engine.step_count < self.total:
                result = engine.step()
                for k, v in result.losses.items():
                    self._sums[k] = self._sums[k] + v if k in self._sums else v
                self._n += 1
                step = engine.step_count
                if step % t.log_every == 0 or step == self.total:
                    values = self.check_losses(step)
                    now = time.perf_counter()
                    rate = (step - last_step) / max(now - last_time, 1e-9)
                    last_time, last_step = now, step
                    hook.gan_log(trainer=self, step=step, losses=values, steps_per_s=rate)
                    self._sums, self._n = {}, 0
                hook.gan_step_end(trainer=self, step=step, losses=result.losses)
                if self.stop_reason is not None:
                    self.notice(self.stop_reason)
                    return
                stop = self.agreed(self._stop_signal or 0, step)
                if stop:
                    self.check_losses(step)
                    self.save_checkpoint(engine)
                    raise self.dist.shared(Interrupted(stop, step))
        finally:
            try:
                hook.gan_train_end(trainer=self, step=engine.step_count)
            finally:
                self._detach_callbacks()

    # -- what callbacks use -------------------------------------------------------------
    @property
    def hook(self):
        """The plugin manager's hooks (``trainer.hook.gan_eval_end(...)``)."""
        return self.model.registry.manager.hook

    def add_callback(self, callback: object) -> None:
        """Attach ``callback`` (an object with ``@hookimpl`` methods) for this run."""
        pm = self.model.registry.manager
        try:
            pm.register(callback)
            pm.check_pending()
        except Exception as exc:
            if pm.is_registered(callback):
                pm.unregister(callback)
            raise PluginError(f"Callback {callback!r} cannot be attached: {exc}") from None
        self._callbacks.append(callback)

    def _detach_callbacks(self) -> None:
        pm = self.model.registry.manager
        while self._callbacks:
            callback = self._callbacks.pop()
            if pm.is_registered(callback):
                pm.unregister(callback)

    def is_last_step(self, step: int) -> bool:
        """Whether the run ends after ``step`` (the last step, or a callback stopped it):
        samples, evaluation and a checkpoint are due whatever their interval."""
        return step == self.total or self.stop_reason is not None

    def stop(self, reason: str) -> None:
        """End the run after this step's callbacks; ``reason`` is printed."""
        self.stop_reason = reason

    def agreed(self, value: int, step: int) -> int:
        """A per-process decision (a signal arrived, time ran out) that every rank must
        take at the same step. Under torchrun the ranks agree on the largest value at log
        steps only (0 elsewhere), so there is no collective per step."""
        if not self.dist.distributed:
            return value
        if step % self.spec.train.log_every and step != self.total:
            return 0
        return self.dist.max_int(value)

    def check_losses(self, step: int) -> dict[str, float]:
        """The loss terms averaged since the last log step (one host sync); stops on
        NaN/Inf under ``train.on_nan = "stop"``."""
        return self._check_finite(self._sums, self._n, step)

    def _check_finite(self, sums: dict[str, torch.Tensor], n: int, step: int) -> dict[str, float]:
        """One host sync per log interval: read the accumulated losses, stop on NaN/Inf."""
        if not sums:
            return {}
        keys = list(sums)
        # averaged over the ranks: every rank logs and decides on the same values
        values = self.dist.mean(torch.stack([sums[k].float() for k in keys]).div_(n)).tolist()
        out = dict(zip(keys, values, strict=True))
        bad = [k for k, v in out.items() if not math.isfinite(v)]
        if bad and self.spec.train.on_nan == "stop":
            phase, term = bad[0].split("/", 1)
            last = checkpoint.latest(self.out / "checkpoints")
            kept = f"The last good checkpoint is '{last}'." if last else "No checkpoint was saved."
            raise self.dist.shared(  # the losses are averaged over ranks: all stop here
                TrainingError(
                    f"Loss term '{term}' of phase '{phase}' became {out[bad[0]]} by step "
                    f"{step}. {kept} Lower the learning rate, check the loss inputs, or set "
                    f'train.on_nan = "skip" to skip such steps.'
                )
            )
        return out

    def load_split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A split for evaluation, on the CPU (the training split of this run is reused)."""
        if split == "train" and self._train_data is not None and self.spec.data.limit is None:
            return self._train_data
        return load_data(self.model, split, whole=True)

    # -- checkpoints & samples --------------------------------------------------------
    def notice(self, text: str) -> None:
        """Print a line for the user (not under --quiet, and on rank 0 only)."""
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def save_checkpoint(
        self, engine: Engine, name: str | None = None, extra: dict[str, str] | None = None
    ) -> Path | None:
        if not self.dist.is_main:
            return None  # every rank holds the same state; rank 0 writes it
        tensors, meta = state.state_tensors(engine)
        meta.update(extra or {})
        meta["spec_json"] = json.dumps(self.spec.canonical(), sort_keys=True)
        meta["spec_hash"] = self.spec.hash()
        meta["spec_toml"] = self.spec.to_toml()
        folder = self.out / "checkpoints"
        path = checkpoint.save(
            folder / (name or checkpoint.checkpoint_name(engine.step_count)), tensors, meta
        )
        if name is None:
            checkpoint.commit(folder, path, self.spec.train.keep_checkpoints)
        self.hook.gan_checkpoint_saved(trainer=self, step=engine.step_count, path=path)
        return path

    # -- signals ------------------------------------------------------------------------
    def _install_signal_handlers(self):
        def handler(signum, frame):
            self._stop_signal = signum

        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                old[sig] = signal.signal(sig, handler)
        return old

    @staticmethod
    def _restore_signal_handlers(old) -> None:
        for sig, h in old.items():
            signal.signal(sig, h)


class Interrupted(GanError):
    """SIGINT/SIGTERM arrived: a checkpoint was saved and the run stopped."""

    def __init__(self, signum: int, step: int) -> None:
        super().__init__(
            f"Stopped by {signal.Signals(signum).name} at step {step}; a checkpoint was saved. "
            f"Continue with --resume."
        )
        self.exit_code = 128 + signum
