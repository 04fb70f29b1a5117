"""The engine: builds networks (:mod:`gan.core.networks`), samplers and optimizers
(:func:`gan.core.phase.build_optimizer`) from a resolved spec and runs training steps
by following the step plan (:mod:`gan.core.plan`).

It contains no model names: everything specific lives in plugins and specs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gan.core import acceleration, schedules
from gan.core.device import pick_device, seed_everything
from gan.core.errors import SpecError, TrainingError
from gan.core.graph import DATA_NODES, Call
from gan.core.networks import build_network
from gan.core.phase import GradientAverager, PhaseStep, build_optimizer
from gan.core.plan import Execution, build_plan, expand
from gan.core.resolve import ResolvedSpec
from gan.core.timing import StepTimer


@dataclass
class StepResult:
    """Per-term losses of one step (detached, on device: no host sync)."""

    losses: dict[str, torch.Tensor]


class Engine:
    """Networks, samplers, optimizers and the step loop of one resolved spec."""

    def __init__(self, model: ResolvedSpec, device: torch.device | None = None, data=None) -> None:
        self.model = model
        spec = model.spec
        self.device = device or pick_device(spec.train.device)
        seed_everything(spec.train.seed)
        self.networks = nn.ModuleDict(
            {name: build_network(model, name, self.device) for name in model.networks}
        )
        self.samplers = {
            name: r.component.factory(r.params, model.context) for name, r in model.samplers.items()
        }
        self.follows = {  # samplers whose training values are a data node's (spec: follows)
            name: s.follows for name, s in spec.samplers.items() if s.follows is not None
        }
        gen_device = self.device if self.device.type == "cuda" else torch.device("cpu")
        self.sampler_generator = torch.Generator(gen_device).manual_seed(spec.train.seed + 1)
        self.optimizers = {
            p.name: build_optimizer(p, self.networks, self.device) for p in model.phases
        }
        self.data = data
        self.schedulers = schedules.build_all(model.phases, self.optimizers, data)
        self.step_count = 0
        self._schedulers_started = False  # see step(): their first step is quieted
        self._skip_nonfinite = spec.train.on_nan == "skip"
        self.skipped: dict[str, int] = {}
        self._grad_state: dict[str, bool] = {}
        self._plans: dict[tuple[tuple[int, int], ...], list[Execution]] = {}
        calls = {c for c in model.graph.order if c.func in model.ops}
        self._leaf_calls = frozenset(c for c in calls if model.ops[c.func].grad_leaf)
        self._random_calls = frozenset(c for c in calls if model.ops[c.func].random)
        # how this machine runs the step: both choices are kept with their reasons
        self.precision = acceleration.choose_precision(spec.train.precision, self.device)
        self.compiled = acceleration.choose_compile(spec.train.compile, self.device)
        self.kept_eager: dict[str, str] = {}
        if self.compiled.value == "compiled":
            acceleration.refuse_cuda_graphs(spec.train.compile_mode, self.device)
            self.kept_eager = acceleration.twice_differentiated(
                model.graph.order, self._leaf_calls, set(model.networks)
            )
            self.compiled = acceleration.compile_networks(
                self.networks, spec.train.compile_mode, self.compiled, self.kept_eager
            )
        self._amp = self.precision.value != "fp32"
        self._autocast_dtype = torch.bfloat16 if self.precision.value == "bf16" else torch.float16
        self.scaler = (
            torch.amp.GradScaler(self.device.type)
            if self.precision.value == "fp16" and self.device.type == "cuda"
            else None
        )
        self.phase_steps = {
            p.name: PhaseStep(
                p,
                self.optimizers[p.name],
                self.scaler,
                clip=[list(self.networks[n].parameters()) for n in p.spec.updates],
            )
            for p in model.phases
        }
        self._timer: StepTimer | None = None
        self._sync: GradientAverager | None = None
        self._ran: set[int] = set()  # calls that ran once: later errors are not spec errors
        # observers of every source draw (gan.testing records a step's inputs with it)
        self._sources_drawn = model.registry.manager.hook.gan_sources_drawn

    # -- planning ---------------------------------------------------------------------
    def plan(self, step: int | None = None) -> list[Execution]:
        """The plan of ``step`` (default: the next step), cached by active-phase pattern."""
        active = expand(self.model.phases, self.step_count if step is None else step)
        key = tuple((p.index, r) for p, r in active)
        if key not in self._plans:
            self._plans[key] = build_plan(
                self.model.graph, self.model.losses, active, self._leaf_calls, self._random_calls
            )
        return self._plans[key]

    # -- sources ----------------------------------------------------------------------
    def draw_sources(
        self,
        batch: dict[str, torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
        training: bool = False,
    ) -> dict[str, torch.Tensor]:
        """A data batch (``x``, ``y``) followed by every sampler, in spec order, drawn
        from ``generator`` (default: the training stream). ``training``: a training
        step's draw, where a sampler that ``follows`` a data node takes that node's
        values (after drawing its own, so the later samplers' draws do not move)."""
        values = dict(batch) if batch is not None else dict(self.data.next())
        n = values["x"].shape[0]
        gen = generator if generator is not None else self.sampler_generator
        for name, draw in self.samplers.items():
            values[name] = draw(n, gen, self.device)
            if training and name in self.follows:
                values[name] = _followed(name, values[name], self.follows[name], values)
        self._sources_drawn(engine=self, values=values)
        return values

    # -- computing nodes --------------------------------------------------------------
    def _set_requires_grad(self, name: str, flag: bool) -> None:
        if self._grad_state.get(name) is not flag:
            for p in self.networks[name].parameters():
                p.requires_grad_(flag)
            self._grad_state[name] = flag

    def _provide(self, node: str, grad_nets: frozenset[str], values) -> torch.Tensor:
        value = values[node]
        if node in self.model.leaf_nodes:
            return value
        if not (self.model.graph.nets_of_node(node) & grad_nets) and isinstance(
            value, torch.Tensor
        ):
            return value.detach()
        return value

    def run_call(self, call: Call, grad_nets: frozenset[str], values) -> None:
        """Compute one graph call and store its outputs in ``values``."""
        args = [self._provide(a, grad_nets, values) if isinstance(a, str) else a for a in call.args]
        graph_mode = bool(grad_nets) or any(o in self.model.leaf_nodes for o in call.outputs)
        try:
            with torch.set_grad_enabled(graph_mode):
                if call.func in self.networks:
                    self._set_requires_grad(call.func, call.func in grad_nets)
                    out = self.networks[call.func](*args)
                else:
                    op = self.model.ops[call.func]
                    kwargs = {"generator": self.sampler_generator} if op.random else {}
                    kwargs.update(self.model.op_options.get(call, {}))
                    out = op.factory(*args, **kwargs)
        except torch.OutOfMemoryError as exc:
            where = f"networks.{call.func}" if call.func in self.networks else "the graph"
            raise TrainingError(
                f"Out of {self.device.type.upper()} memory computing graph.{call.key} = "
                f'"{call.text}". Lower train.batch_size, shrink the networks ({where}), or '
                f'train in bfloat16 (train.precision = "bf16").'
            ) from exc
        except (RuntimeError, ValueError, TypeError, IndexError, AttributeError) as exc:
            # AttributeError: a constant where the op expects a tensor, e.g. cat(x, 0)
            if id(call) in self._ran:
                raise  # it ran before with these shapes: not a spec mistake
            shapes = ", ".join(
                f"{a}{list(values[a].shape)}" if isinstance(a, str) else repr(a) for a in call.args
            )
            kind = "network" if call.func in self.networks else "op"
            where = f"networks.{call.func}" if kind == "network" else "the graph"
            raise SpecError(
                f"graph.{call.key} = \"{call.text}\": {kind} '{call.func}' failed on {shapes}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}. "
                f"Check the sizes in {where} against the nodes it reads (`gan inspect`; "
                f"`gan --traceback …` shows where it failed)."
            ) from exc
        self._ran.add(id(call))  # the graph's Call objects live as long as the model
        outputs = call.outputs
        if len(outputs) == 1:
            if isinstance(out, tuple | list):
                if len(out) != 1:
                    raise SpecError(
                        f"graph.{call.key} = \"{call.text}\": '{call.func}' returns "
                        f'{len(out)} outputs; name them all, e.g. "a, b" = "{call.text}".'
                    )
                out = out[0]
            values[outputs[0]] = out
            return
        if not isinstance(out, tuple | list) or len(out) != len(outputs):
            got = len(out) if isinstance(out, tuple | list) else 1
            raise SpecError(
                f"graph.{call.key} = \"{call.text}\": '{call.func}' returns {got} output(s) "
                f"but {len(outputs)} names are given."
            )
        values.update(zip(outputs, out, strict=True))

    def compute(self, nodes: list[str], values: dict[str, torch.Tensor]):
        """Compute ``nodes`` without gradients (for sampling and evaluation)."""
        with torch.no_grad(), self.autocast():
            for call in self.model.graph.calls_for(nodes):
                self.run_call(call, frozenset(), values)
        return {n: values[n] for n in nodes}

    def loss_value(self, term_name: str, updates: frozenset[str], values) -> torch.Tensor:
        term = self.model.losses[term_name]
        kwargs = {k: self._provide(n, updates, values) for k, n in term.node_args.items()}
        kwargs.update(term.const_args)
        target: torch.Tensor | float | None
        if isinstance(term.target, str):
            target = self._provide(term.target, frozenset(), values)
        else:
            target = term.target
        inp = self._provide(term.input, updates, values)
        return term.component.factory(inp, target, **kwargs)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if not self._amp:
            yield
            return
        with torch.autocast(self.device.type, dtype=self._autocast_dtype):
            yield

    # -- training ---------------------------------------------------------------------
    def train_mode(self, flag: bool = True) -> None:
        self.networks.train(flag)

    @contextlib.contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Networks in eval mode (BatchNorm running statistics, no dropout) for the
        block, then back to the mode they were in."""
        was_training = self.networks.training
        self.train_mode(False)
        try:
            yield
        finally:
            self.train_mode(was_training)

    def step(self, batch: dict[str, torch.Tensor] | None = None) -> StepResult:
        """One training step: every active phase, in order, following the plan."""
        if self._timer is not None:
            self._timer.start()
        plan = self.plan()
        values = self.draw_sources(batch, training=True)
        self._lap("data")
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        waiting: list[PhaseStep] = []  # simultaneous phases: stepped after the group
        for k, ex in enumerate(plan):
            if ex.fresh == "latents":  # the same data batch, new latents
                data = {k: values[k] for k in DATA_NODES if k in values}
                values = {**values, **self.draw_sources(data, training=True)}
                self._lap("data")
            elif ex.resample:
                values = self.draw_sources(training=True)
                self._lap("data")
            phase = self.phase_steps[ex.phase.name]
            # a group of simultaneous phases shares one forward (core/plan.py)
            grouped = ex.simultaneous or (k + 1 < len(plan) and plan[k + 1].simultaneous)
            more = k + 1 < len(plan) and plan[k + 1].simultaneous
            phase.zero_grad()
            total, terms = self.forward(ex, values)
            self._lap("forward")
            if self._skip_nonfinite and not phase.finite(total):
                # train.on_nan = "skip": one host sync per phase is the price of skipping.
                self.skipped[ex.phase.name] = self.skipped.get(ex.phase.name, 0) + 1
                if not more:
                    self._step_all(waiting, ex)
                continue
            for key, value in terms.items():
                sums[key] = sums[key] + value if key in sums else value
                counts[key] = counts.get(key, 0) + 1
            try:
                if grouped:
                    # only this phase's networks receive gradients; the shared graph is
                    # kept for the group's next phase
                    for name in ex.phase.spec.updates:
                        self._set_requires_grad(name, True)
                    phase.backward(total, inputs=phase.parameters, retain_graph=more)
                    waiting.append(phase)
                    if not more:
                        self._step_all(waiting, ex)
                    continue
                phase.backward(total)
                phase.step()
            except torch.OutOfMemoryError as exc:
                raise TrainingError(
                    f"Out of {self.device.type.upper()} memory in the backward pass or the "
                    f"optimizer step of phase '{ex.phase.name}'. Lower train.batch_size, "
                    f'shrink the networks, or train in bfloat16 (train.precision = "bf16").'
                ) from exc
        self.advance()
        return StepResult({k: v / counts[k] for k, v in sums.items()})

    def advance(self) -> None:
        """End a step: every phase's schedule steps (by the step counter, run or not),
        then the counter. Only a scheduler's first step can warn; later steps leave the
        warning filters alone (changing them resets Python's "shown once" records)."""
        first = (
            contextlib.nullcontext()
            if self._schedulers_started
            else schedules.quiet_order_warning()
        )
        with first:
            for scheduler in self.schedulers.values():
                scheduler.step()
        self._schedulers_started = True
        self.step_count += 1

    def _step_all(self, waiting: list[PhaseStep], ex: Execution) -> None:
        """Step the optimizers of a group of simultaneous phases, all gradients taken."""
        try:
            for phase in waiting:
                phase.step()
        except torch.OutOfMemoryError as exc:
            raise TrainingError(
                f"Out of {self.device.type.upper()} memory in the optimizer step of phase "
                f"'{ex.phase.name}' and the phases stepping with it. Lower train.batch_size "
                f"or shrink the networks."
            ) from exc
        waiting.clear()

    def forward(
        self, ex: Execution, values: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One phase execution's nodes (computed or reused, per the plan) and its
        weighted loss: ``(total, {"phase/term": detached value})``."""
        phase = ex.phase
        with self.autocast():
            for action in ex.actions:
                if action.compute:
                    self.run_call(action.call, action.grad_nets, values)
            total: torch.Tensor | None = None
            terms = {}
            for term, weight in phase.terms:
                value = self.loss_value(term, phase.updates, values)
                terms[f"{phase.name}/{term}"] = value.detach().float()
                total = weight * value if total is None else total + weight * value
        assert total is not None  # resolve() refuses a phase without loss terms
        return total, terms

    def _lap(self, section: str) -> None:
        if self._timer is not None:
            self._timer.lap(section)

    # -- what wraps the phases: timing, gradient sync ---------------------------------
    @property
    def timer(self) -> StepTimer | None:
        """Opt-in per-section timing (:class:`~gan.core.timing.StepTimer`); None: free."""
        return self._timer

    @timer.setter
    def timer(self, timer: StepTimer | None) -> None:
        self._timer = timer
        for phase in self.phase_steps.values():
            phase.timer = timer

    @property
    def sync(self) -> GradientAverager | None:
        """Averages each phase's gradients over the ranks before its optimizer steps
        (multi-process runs: ``training.distributed.GradientSync``); None otherwise."""
        return self._sync

    @sync.setter
    def sync(self, sync: GradientAverager | None) -> None:
        self._sync = sync
        for phase in self.phase_steps.values():
            phase.sync = sync

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The engine's own state, nested (``gan.training.state`` flattens it into a
        checkpoint's tensors and metadata; the process-wide RNGs are not included)."""
        return {
            "step": self.step_count,
            "networks": {name: net.state_dict() for name, net in self.networks.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
            "sampler_rng": self.sampler_generator.get_state(),
            "data": self.data.state_dict() if self.data is not None else None,
            "epoch": self.data.epoch if self.data is not None else 0,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (parts that are absent are kept)."""
        for name, sd in state.get("networks", {}).items():
            self.networks[name].load_state_dict(sd)
        for name, sd in state.get("optimizers", {}).items():
            self.optimizers[name].load_state_dict(sd)
        for name, sd in state.get("schedulers", {}).items():
            self.schedulers[name].load_state_dict(sd)
        if "sampler_rng" in state:
            self.sampler_generator.set_state(state["sampler_rng"])
        if state.get("data") is not None and self.data is not None:
            self.data.load_state_dict(state["data"])
        if "step" in state:
            self.step_count = int(state["step"])


def _followed(
    name: str, drawn: torch.Tensor, node: str, values: dict[str, torch.Tensor]
) -> torch.Tensor:
    """The data node ``node``'s values in place of sampler ``name``'s draw; refused when
    the two differ in shape or dtype (the graph was written for the sampler's)."""
    data = values[node]
    if data.shape != drawn.shape or data.dtype != drawn.dtype:
        raise SpecError(
            f"samplers.{name}.follows = '{node}': the batch's {node} is "
            f"{data.dtype} {tuple(data.shape)}, the sampler draws {drawn.dtype} "
            f"{tuple(drawn.shape)}; follow a node only with a sampler of the same kind "
            f"(e.g. a categorical sampler follows the labels y), or remove follows"
        )
    return data
