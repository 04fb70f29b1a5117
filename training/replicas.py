"""Many seeds in one process (``gan run --seeds 0-7``, ``train.seeds``).

Each seed is an ordinary run of the spec with ``train.seed`` set to it, in its own folder
``OUT/seed_K/`` (spec, metrics, samples, checkpoints, evaluation), so ``gan eval``,
``gan sample``, ``gan report`` and ``--resume`` work on a seed folder as on any run, and
``gan compare OUT`` pools the seeds. Here the K trainers share one loop: the seeds step
together, vectorised (:class:`gan.core.stacked.StackedSteps`) where that pays, else seed
by seed; after every step each trainer does what it does alone (log, samples, eval,
checkpoints) in its own folder.

``train.vectorize``: ``true`` vectorises unless ``vmap`` cannot run the model (named);
``false`` steps seed by seed; ``auto`` (or unset) measures both forms on one batch and
picks the faster, saying why in one line, as ``train.precision = "auto"`` does.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
from pathlib import Path
from typing import Any

import torch

from gan.core import graphs
from gan.core.acceleration import Choice
from gan.core.data import load_data
from gan.core.engine import Engine, StepResult
from gan.core.errors import SpecError
from gan.core.registry import Registry, default_registry
from gan.core.resolve import resolve
from gan.core.spec import Spec
from gan.core.stacked import StackedSteps, obstacle, shared_noise, time_forms
from gan.training.trainer import Interrupted, Trainer

__all__ = ["Replicas", "choose_form", "parse_seeds", "seed_folder", "seed_spec"]

MAX_SEEDS = 256
_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_seeds(text: str) -> list[int]:
    """``"0-7"``, ``"0,2,5"`` or both (``"0-3,8"``) → the seeds, in order, each once."""
    seeds: list[int] = []
    for item in text.replace(" ", "").split(","):
        m = _ITEM.match(item)
        if m is None:
            raise SpecError(
                f"--seeds {text!r:.60}: '{item:.20}' is not a seed or a range. Write seeds "
                f"as 0-7 or 0,2,5 (non-negative integers)."
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo or hi - lo >= MAX_SEEDS:
            raise SpecError(
                f"--seeds {text!r:.60}: the range {item} is empty or longer than "
                f"{MAX_SEEDS} seeds. Write a range low-high with low <= high."
            )
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    if len(seeds) > MAX_SEEDS:
        raise SpecError(f"--seeds {text!r:.60}: more than {MAX_SEEDS} seeds in one process.")
    return seeds


def seed_folder(out: Path, seed: int) -> Path:
    return out / f"seed_{seed}"


def seed_spec(spec: Spec, seed: int) -> Spec:
    """The spec of one seed's run: ``train.seed`` set, ``train.seeds`` gone (resuming or
    evaluating a seed folder is an ordinary single run)."""
    train = spec.train.model_copy(update={"seed": seed, "seeds": None})
    return spec.model_copy(update={"train": train})


def _registry() -> Registry:
    """A plugin manager of its own per seed: each trainer attaches its callbacks (metrics
    file, checkpoints) to its manager, and one seed's events must not reach another's."""
    base = default_registry()
    extra = [
        plugin
        for name, plugin in base.manager.list_name_plugin()
        if base.origins.get(name) == "registered in code"
    ]
    return Registry.load(extra=extra)


def choose_form(setting: bool | str | None, engines: list[Engine]) -> tuple[Choice, Any]:
    """Vectorised or seed by seed, with the reason; the stepper for the choice."""
    steps = {e.step_count for e in engines}
    blocked = obstacle(engines)
    if blocked is None and len(steps) > 1:
        blocked = f"the seed folders resume from different steps ({sorted(steps)})"
    if setting is False:
        return Choice("seed by seed", "train.vectorize = false"), SeedBySeed(engines)
    if blocked is not None:
        why = f"vmap cannot step these seeds together: {blocked}"
        return Choice("seed by seed", why), SeedBySeed(engines)
    try:
        stacked = StackedSteps(engines)
    except (RuntimeError, ValueError, TypeError) as exc:
        why = f"their networks cannot be stacked: {_first_line(exc)}"
        return Choice("seed by seed", why), SeedBySeed(engines)
    noisy = shared_noise(engines)
    if noisy is not None and setting is not True:
        why = (
            f"op '{noisy}' draws noise inside the graph, which vectorised seeds would draw "
            f"from one shared generator, not each seed's own (train.vectorize = true "
            f"accepts that)"
        )
        return Choice("seed by seed", why), SeedBySeed(engines)
    try:  # a trial of every phase: what vmap refuses shows here, before any step
        together, apart = time_forms(stacked, repeats=1 if setting is True else 3)
    except Exception as exc:  # whatever vmap refuses: the seeds still train
        why = f"vmap cannot run this model: {_first_line(exc)}"
        return Choice("seed by seed", why), SeedBySeed(engines)
    if setting is True:
        shared = f"; op '{noisy}' draws its noise from one generator shared by the seeds"
        return Choice("vectorised", "train.vectorize = true" + (shared if noisy else "")), stacked
    figures = (
        f"a step's passes measured {1e3 * together:.1f} ms vectorised vs "
        f"{1e3 * apart:.1f} ms seed by seed for {len(engines)} seeds"
    )
    if together <= apart:
        return Choice("vectorised", figures), stacked
    return Choice("seed by seed", figures), SeedBySeed(engines)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class SeedBySeed:
    """The seeds stepped one after another, each with its own process-wide RNG state
    (dropout and the like draw from it), so each follows its run alone exactly."""

    def __init__(self, engines: list[Engine], rng: list[torch.Tensor] | None = None) -> None:
        self.engines = engines
        self.rng = rng or [torch.get_rng_state() for _ in engines]

    def step(self, active: list[bool] | None = None) -> list[StepResult | None]:
        out: list[StepResult | None] = []
        for k, engine in enumerate(self.engines):
            if active is not None and not active[k]:
                out.append(None)
                continue
            torch.set_rng_state(self.rng[k])
            out.append(engine.step())
            self.rng[k] = torch.get_rng_state()
        return out


class Replicas:
    """K seeds of one spec trained in one process; ``run()`` returns the final step."""

    def __init__(
        self,
        spec: Spec,
        out: str | Path,
        *,
        resume: bool = False,
        force: bool = False,
        quiet: bool = False,
    ) -> None:
        seeds = spec.train.seeds or [spec.train.seed]
        self.spec = spec
        self.out = Path(out)
        self.quiet = quiet
        self.trainers: list[Trainer] = []
        for i, seed in enumerate(seeds):
            one = seed_spec(spec, seed)
            model = resolve(one, _registry()) if i else resolve(one)
            trainer = Trainer(
                one,
                seed_folder(self.out, seed),
                resume=resume,
                force=force,
                model=model,
                quiet=quiet or i > 0,  # one progress line: the first seed's
            )
            trainer.execution = {"seeds": list(seeds)}
            self.trainers.append(trainer)
        self.choice: Choice | None = None
        self.graph_choice = Choice("eager", "train.cuda_graph = false")

    def notice(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def run(self) -> int:
        data = load_data(self.trainers[0].model)
        engines: list[Engine] = []
        rng: list[torch.Tensor] = []
        started: list[Trainer] = []
        statuses = {id(t): "failed" for t in self.trainers}
        try:
            for trainer in self.trainers:
                engines.append(trainer.start(data))
                started.append(trainer)
                rng.append(torch.get_rng_state())  # as a run of this seed alone has it
            self.choice, stepper = choose_form(self.spec.train.vectorize, engines)
            if isinstance(stepper, SeedBySeed):
                stepper.rng = rng
            setting = self.spec.train.vectorize
            if setting is True and self.choice.value != "vectorised":
                self.notice(
                    f"train.vectorize = true, but {self.choice.reason}; stepping seed by seed."
                )
            elif len(engines) > 1:
                self.notice(f"{len(engines)} seeds {self.choice.value} ({self.choice.reason})")
            stepper = self._graphed(stepper, engines)
            for trainer in started:  # run.json: how the seeds stepped (written at the end)
                if trainer._session is not None:
                    trainer._session.setdefault("execution", {})["seeds"] = {
                        "seeds": [t.spec.train.seed for t in self.trainers],
                        "form": vars(self.choice),
                        "cuda_graph": vars(self.graph_choice),
                    }
            with self._signals():
                self._loop(stepper, statuses)
        finally:
            for trainer in reversed(started):
                trainer.finish(statuses[id(trainer)])
        return max(e.step_count for e in engines)

    def _graphed(self, stepper: Any, engines: list[Engine]) -> Any:
        """The vectorised step as a whole-step CUDA graph where ``train.cuda_graph`` asks
        and it can be captured (seed by seed, each seed's step stays eager)."""
        setting = self.spec.train.cuda_graph
        if setting is None or setting is False or engines[0].device.type != "cuda":
            return stepper  # the trainers said why (a CPU) already
        if isinstance(stepper, SeedBySeed):
            self.graph_choice = Choice("eager", "seed-by-seed steps are not captured")
        else:
            self.graph_choice = graphs.choose(setting, engines)
        self.notice(f"cuda graph: {self.graph_choice.value} ({self.graph_choice.reason})")
        if self.graph_choice.value != "graphed":
            return stepper
        return graphs.GraphedSteps(stepper, self.notice)

    def _loop(self, stepper: Any, statuses: dict[int, str]) -> None:
        trainers = self.trainers
        active = [t.engine.step_count < t.total for t in trainers]
        for trainer in trainers:
            trainer.engine.train_mode(True)
        begun: list[Trainer] = []
        try:
            for trainer in trainers:
                trainer.begin()
                begun.append(trainer)
            interrupted: Interrupted | None = None
            while any(active):
                if isinstance(stepper, SeedBySeed):
                    results = stepper.step(active)
                else:
                    results = stepper.step()
                for k, (trainer, result) in enumerate(zip(trainers, results, strict=True)):
                    if not active[k] or result is None:
                        continue
                    try:
                        ended = trainer.after_step(result)
                    except Interrupted as exc:
                        statuses[id(trainer)] = "interrupted"
                        interrupted = interrupted or exc
                        active[k] = False
                        continue
                    if ended or trainer.engine.step_count >= trainer.total:
                        active[k] = False
                        statuses[id(trainer)] = trainer.final_status()
                if interrupted is not None:
                    raise interrupted
        finally:
            for trainer in reversed(begun):
                trainer.end()

    @contextlib.contextmanager
    def _signals(self):
        """SIGINT/SIGTERM reach every seed: each saves a checkpoint at this step."""

        def handler(signum, frame):
            for trainer in self.trainers:
                trainer._stop_signal = signum

        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                old[sig] = signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)
