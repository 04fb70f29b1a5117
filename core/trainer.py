"""The training loop around the engine: run folder, logging, samples, checkpoints,
resume and signals. Step-based: everything is a function of the step counter.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch

from gan.core import checkpoint, distributed, runinfo
from gan.core.data import BatchSource, load_split, scale
from gan.core.engine import Engine
from gan.core.errors import CheckpointError, GanError, SpecError, TrainingError
from gan.core.resolve import Model, resolve
from gan.core.spec import MAX_SPEC_BYTES, Spec, check_depth, name_problem, spec_from_dict

# Keys that may change between a run and its resumption without changing the model.
RESUMABLE_CHANGES = {
    "train.steps",
    "train.epochs",
    "train.log_every",
    "train.checkpoint_every",
    "train.sample_every",
    "train.keep_checkpoints",
    "train.device",
    "train.on_nan",
    "train.sync_batchnorm",
    "train.channels_last",
    "train.max_minutes",
    "eval",
    "sample.n",
    "description",
    "data.root",
    "data.download",
    "data.skip_unreadable",
}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        out = {}
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}{v.get('name', i)}."))
        return out
    return {prefix[:-1]: data}


def spec_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = flatten(old), flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and not _resumable(k))


def _resumable(key: str) -> bool:
    """A key (or a key under a table) listed in RESUMABLE_CHANGES."""
    return any(key == r or key.startswith(f"{r}.") for r in RESUMABLE_CHANGES)


def load_data(model: Model, split: str = "train", *, whole: bool = False):
    """A split on the CPU, scaled to the spec's pixel range. ``whole`` ignores ``data.limit`` (a
    training-speed knob): evaluation judges and probes use the whole split."""
    spec = model.spec
    data_spec = spec.data.model_copy(update={"limit": None}) if whole else spec.data
    images, labels = load_split(model.data_source, data_spec, split)
    expected = model.context.image_shape
    if tuple(images.shape[1:]) != tuple(expected):
        raise SpecError(
            f"data: the source gives images of shape {tuple(images.shape[1:])} but the spec's "
            f"networks were built for {tuple(expected)}. Set data.image_size / data.channels."
        )
    return scale(images, spec.data.range), labels


def stored_spec(meta: dict[str, str], path: Path) -> dict[str, Any]:
    """The spec a checkpoint stores (``spec_json``) as plain data, ``{}`` if it is absent
    or unreadable. A checkpoint may come from elsewhere: its name is checked like a spec
    file's (it must not be able to name a folder outside runs/) and its nesting bounded."""
    text = meta.get("spec_json", "{}")
    try:
        if len(text) > MAX_SPEC_BYTES:
            raise ValueError("too large")
        old = json.loads(text)
    except (ValueError, RecursionError):
        old = {}
    if not isinstance(old, dict):
        old = {}
    check_depth(old, f"The spec stored in '{path}'")
    if "name" in old and (problem := name_problem(old["name"])) is not None:
        raise CheckpointError(
            f"The spec stored in '{path}' is not a valid spec: name = {old['name']!r:.80}: "
            f"{problem}. Use a checkpoint whose spec has a plain name."
        )
    return old


BEST = "best.safetensors"  # kept beside the step checkpoints, never rotated away


class Trainer:
    """Runs a spec into a run folder; ``run()`` returns the final step."""

    def __init__(
        self,
        spec: Spec,
        out: str | Path,
        *,
        resume: bool = False,
        force: bool = False,
        model: Model | None = None,
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
        self.tensorboard = None  # a SummaryWriter while training, if [log] asks for one
        self._evaluation = None  # built at the first [eval] every=N evaluation
        self._best: float | None = None
        self._train_data: tuple[torch.Tensor, torch.Tensor] | None = None
        self._sample_data: tuple[torch.Tensor, torch.Tensor] | None = None

    # -- run folder -----------------------------------------------------------------
    def _prepare_folder(self) -> Path | None:
        """Create/validate the run folder. Returns the checkpoint to resume from."""
        ckpt_dir = self.out / "checkpoints"
        for part in ("checkpoints", "samples", "metrics.jsonl", "spec.toml"):
            if (self.out / part).is_symlink():
                # a copied run folder must not lead --force/--resume to delete files elsewhere
                raise GanError(
                    f"'{self.out / part}' is a symbolic link; gan only writes and deletes "
                    f"files inside the run folder itself. Remove the link or choose another "
                    f"--out."
                )
        existing = checkpoint.latest(ckpt_dir) if ckpt_dir.is_dir() else None
        if self.resume:
            if existing is None:
                raise CheckpointError(
                    f"--resume: no checkpoint in '{ckpt_dir}'. Start a new run without "
                    f"--resume, or point --out at the folder of the run to continue."
                )
            return existing
        holds_run = any((self.out / n).exists() for n in ("spec.toml", "metrics.jsonl"))
        if (holds_run or existing is not None) and not self.force:
            raise GanError(
                f"Output folder '{self.out}' already holds a run. Add --resume to continue "
                f"it, --force to overwrite it, or choose another --out."
            )
        try:
            for sub in ("", "checkpoints", "samples"):
                (self.out / sub).mkdir(parents=True, exist_ok=True)
            if self.force:
                for old in checkpoint.list_checkpoints(ckpt_dir):
                    old.unlink()
                (ckpt_dir / checkpoint.LATEST).unlink(missing_ok=True)
                (ckpt_dir / BEST).unlink(missing_ok=True)
                (self.out / "metrics.jsonl").unlink(missing_ok=True)
                for old in (self.out / "samples").glob("step_*.png"):
                    old.unlink()  # grids of the overwritten run would pass for this one's
            probe = self.out / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise GanError(
                f"Cannot write to output folder '{self.out}': {exc.strerror or exc}. "
                f"Choose a writable --out."
            ) from None
        return None

    def _truncate_metrics(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from (they will be
        written again), so metrics.jsonl stays one line per logged step."""
        path = self.out / "metrics.jsonl"
        if not path.is_file():
            return
        keep = []
        for line in path.read_text(errors="replace").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except (ValueError, AttributeError, TypeError, RecursionError):
                continue  # a line cut short by the kill (or not written by gan)
        checkpoint.atomic_write_bytes(path, "".join(f"{line}\n" for line in keep).encode())

    def _check_resume_spec(self, meta: dict[str, str], path: Path) -> None:
        old = stored_spec(meta, path)
        diffs = spec_differences(old, self.spec.canonical())
        if diffs and not self.force:
            raise CheckpointError(
                f"Checkpoint '{path}' was written by a different spec: "
                f"{', '.join(diffs[:10])} differ. Resume with the run's own spec "
                f"('{self.out / 'spec.toml'}'), or add --force to resume anyway."
            )

    # -- main loop ------------------------------------------------------------------
    def total_steps(self, batches_per_epoch: int) -> int:
        t = self.spec.train
        return t.steps if t.steps is not None else max(1, math.ceil(t.epochs * batches_per_epoch))

    def run(self) -> int:
        images, labels = load_data(self.model)
        t = self.spec.train
        ctx = self.dist
        data = BatchSource(
            images, labels, t.batch_size, t.seed, self.device, ctx.rank, ctx.world_size
        )
        engine = Engine(self.model, self.device, data)
        distributed.prepare_engine(engine, ctx)
        self.engine = engine
        # Rank 0 alone touches the run folder and reads the checkpoint; all ranks get the
        # outcome (or the same error).
        resume_from = ctx.on_main(self._prepare_folder)  # once everything else has worked
        if resume_from is not None:
            tensors, meta = ctx.on_main(lambda: checkpoint.load(resume_from))
            self._check_resume_spec(meta, resume_from)
            engine.load_state_tensors(tensors, meta)
            if ctx.is_main:
                self._truncate_metrics(engine.step_count)
        elif ctx.is_main:
            (self.out / "spec.toml").write_text(self.spec.to_toml())
        distributed.reseed(engine, ctx)
        total = self.total_steps(data.batches_per_epoch)
        self._train_data = (images, labels)
        n = min(self.spec.sample.n, len(images))
        self._sample_data = (images[:n], labels[:n])
        old_handlers = self._install_signal_handlers()
        session = None  # run.json: command, machine, versions; steps and seconds at the end
        if ctx.is_main:
            session = runinfo.start_session(
                self.out,
                device=self.device,
                seed=t.seed,
                step=engine.step_count,
                world_size=ctx.world_size,
                resumed=resume_from is not None,
            )
        status = "failed"
        try:
            self._loop(engine, total)
            status = "finished" if engine.step_count >= total else "stopped (train.max_minutes)"
        except Interrupted:
            status = "interrupted"
            raise
        finally:
            self._restore_signal_handlers(old_handlers)
            if session is not None:
                runinfo.end_session(self.out, session, step=engine.step_count, status=status)
        return engine.step_count

    def _loop(self, engine: Engine, total: int) -> None:
        t = self.spec.train
        every = self.spec.eval.every
        deadline = None if t.max_minutes is None else time.monotonic() + 60.0 * t.max_minutes
        path = self.out / "metrics.jsonl" if self.dist.is_main else os.devnull
        metrics = open(path, "a")  # noqa: SIM115 - closed in finally
        sums: dict[str, torch.Tensor] = {}
        n = 0
        last_time = time.perf_counter()
        last_step = engine.step_count
        progress = Progress(total, engine.step_count, quiet=self.quiet)
        self.tensorboard = self._tensorboard()
        engine.train_mode(True)
        try:
            while engine.step_count < total:
                result = engine.step()
                for k, v in result.losses.items():
                    sums[k] = sums[k] + v if k in sums else v
                n += 1
                step = engine.step_count
                if step % t.log_every == 0 or step == total:
                    values = self._check_finite(sums, n, step)
                    now = time.perf_counter()
                    rate = (step - last_step) / max(now - last_time, 1e-9)
                    last_time, last_step = now, step
                    record = {
                        "step": step,
                        "epoch": engine.data.epoch,
                        "time": time.time(),
                        "steps_per_s": round(rate, 3),
                        **values,
                    }
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                    progress.update(step, values, rate)
                    if self.tensorboard is not None:
                        for key, value in {**values, "steps_per_s": rate}.items():
                            self.tensorboard.add_scalar(key, value, step)
                    sums, n = {}, 0
                late = deadline is not None and time.monotonic() > deadline
                out_of_time = bool(self._agreed(int(late), step, total))
                if step % t.sample_every == 0 or step == total or out_of_time:
                    self._save_samples(engine, step)
                if every is not None and (step % every == 0 or step == total or out_of_time):
                    self._evaluate(engine, metrics, step)
                if step % t.checkpoint_every == 0 or step == total or out_of_time:
                    self._check_finite(sums, n, step)
                    self.save_checkpoint(engine)
                if out_of_time:
                    self._notice(
                        f"train.max_minutes = {t.max_minutes} reached at step {step}; "
                        f"checkpoint saved (continue with --resume and a larger budget)."
                    )
                    return
                stop = self._agreed(self._stop_signal or 0, step, total)
                if stop:
                    self._check_finite(sums, n, step)
                    self.save_checkpoint(engine)
                    raise self.dist.shared(Interrupted(stop, step))
        finally:
            metrics.close()
            progress.close()
            if self.tensorboard is not None:
                self.tensorboard.close()

    def _agreed(self, value: int, step: int, total: int) -> int:
        """A per-process decision (a signal arrived, time ran out) that every rank must
        take at the same step. Under torchrun the ranks agree on the largest value at log
        steps only (0 elsewhere), so there is no collective per step."""
        if not self.dist.distributed:
            return value
        if step % self.spec.train.log_every and step != total:
            return 0
        return self.dist.max_int(value)

    def _tensorboard(self):
        if not self.spec.log.tensorboard or not self.dist.is_main:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GanError(
                "log.tensorboard = true needs the tensorboard package: "
                "pip install 'gan[tensorboard]' (or set log.tensorboard = false)."
            ) from None
        return SummaryWriter(str(self.out / "tensorboard"), purge_step=self.engine.step_count)

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

    # -- checkpoints & samples --------------------------------------------------------
    def _notice(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def save_checkpoint(
        self, engine: Engine, name: str | None = None, extra: dict[str, str] | None = None
    ) -> Path | None:
        if not self.dist.is_main:
            return None  # every rank holds the same state; rank 0 writes it
        tensors, meta = engine.state_tensors()
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
        return path

    def _save_samples(self, engine: Engine, step: int) -> None:
        if self.spec.sample.node is None or not self.dist.is_main:
            return
        from gan.core.sampling import sample_grid, save_grid

        # a stream of its own, re-seeded each time: grids are comparable across steps
        # and drawing them does not move the training stream
        gen = torch.Generator(engine.sampler_generator.device).manual_seed(self.spec.train.seed + 2)
        images, labels = self._sample_data
        grid = sample_grid(engine, images, labels, self.spec.sample.n, gen)
        value_range = tuple(self.spec.data.range)
        save_grid(grid, self.out / "samples" / f"step_{step:08d}.png", value_range)
        if self.tensorboard is not None:
            from torchvision.utils import make_grid

            image = make_grid(grid.images, nrow=grid.nrow, normalize=True, value_range=value_range)
            self.tensorboard.add_image("samples", image, step)

    # -- evaluation -----------------------------------------------------------------------
    def _evaluate(self, engine: Engine, metrics_file, step: int) -> None:
        """``[eval] every``: metrics into metrics.jsonl; best.safetensors by ``eval.best``."""
        from gan.core.evaluate import Evaluation, check_best_key, is_better, run_metrics

        if self._evaluation is None:
            # model selection reads the validation split, never the test split
            split = "val" if self.spec.data.val else self.spec.eval.split
            self._evaluation = Evaluation(engine, self._load_split, quiet=self.quiet, split=split)
        results = run_metrics(self._evaluation)
        self._evaluation.reset_model_outputs()
        record = {
            "step": step,
            "time": time.time(),
            "split": self._evaluation.split,
            **{f"eval/{k}": v for k, v in results.items()},
        }
        metrics_file.write(json.dumps(record) + "\n")
        metrics_file.flush()
        if self.tensorboard is not None:
            for key, value in results.items():
                self.tensorboard.add_scalar(f"eval/{key}", value, step)
        self._notice(f"eval step {step}: " + " ".join(f"{k}={v:.4g}" for k, v in results.items()))
        e = self.spec.eval
        if e.best is None:
            return
        check_best_key(self.spec, results)
        if is_better(results[e.best], self._best_value(), e.best_mode):
            path = self.save_checkpoint(
                engine, BEST, extra={"best_metric": e.best, "best_value": repr(results[e.best])}
            )
            self._best = results[e.best]
            self._notice(f"eval: new best {e.best}={results[e.best]:.4g} → {path}")

    def _best_value(self) -> float | None:
        """The best value so far; after a resume, read from best.safetensors."""
        if self._best is None:
            path = self.out / "checkpoints" / BEST
            if path.is_file():
                try:
                    meta = checkpoint.load(path)[1]
                    if meta.get("best_metric") == self.spec.eval.best:
                        self._best = float(meta["best_value"])
                except (CheckpointError, KeyError, ValueError):
                    self._best = None  # unreadable: the next evaluation replaces it
        return self._best

    def _load_split(self, split: str):
        if split == "train" and self._train_data is not None and self.spec.data.limit is None:
            return self._train_data
        return load_data(self.model, split, whole=True)

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


def run_spec(spec_or_dict, out, **kwargs) -> Trainer:
    spec = spec_or_dict if isinstance(spec_or_dict, Spec) else spec_from_dict(spec_or_dict)
    trainer = Trainer(spec, out, **kwargs)
    trainer.run()
    return trainer
