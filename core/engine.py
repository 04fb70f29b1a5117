"""The engine: builds networks, samplers and optimizers from a resolved model and runs
training steps by following the step plan (:mod:`gan.core.plan`).

It contains no model names: everything specific lives in plugins and specs.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gan.core import schedules
from gan.core.components import Network, Optimizer
from gan.core.errors import CheckpointError, SpecError
from gan.core.graph import Call
from gan.core.plan import Execution, build_plan, expand
from gan.core.profile import StepTimer
from gan.core.resolve import Model, Phase


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SpecError(
            "train.device = 'cuda' but no CUDA GPU is available here. Use --device cpu (or auto)."
        )
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_network(model: Model, name: str, device: torch.device) -> nn.Module:
    """Build one network; refuse absurd sizes before allocating (counted on 'meta')."""
    resolved = model.networks[name]
    comp: Network = resolved.component  # type: ignore[assignment]
    where = f"networks.{name} (type '{comp.name}')"
    limit = model.spec.train.max_parameters
    try:
        with torch.device("meta"):
            n = count_parameters(comp.factory(resolved.params, model.context))
    except Exception:
        n = None  # factories that cannot run on 'meta' are counted after building
    if n is not None and n > limit:
        raise SpecError(
            f"{where} would have {n:,} parameters, more than train.max_parameters = "
            f"{limit:,}. Check its sizes, or raise train.max_parameters if you mean it."
        )
    try:
        module = comp.factory(resolved.params, model.context)
    except Exception as exc:
        raise SpecError(f"{where} could not be built: {type(exc).__name__}: {exc}") from None
    if not isinstance(module, nn.Module):
        raise SpecError(f"{where}: its factory returned {type(module).__name__}, not a Module.")
    init = model.spec.networks[name].init
    if init is not None:
        initialise(module, init.type, init.std)
    return module.to(device)


def initialise(module: nn.Module, how: str, std: float) -> None:
    """``networks.X.init``: weights of every Linear/Conv layer from ``torch.nn.init``,
    biases zero, normalisation layers at scale 1 and shift 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.modules.conv._ConvNd):
            if how == "normal":
                nn.init.normal_(m.weight, 0.0, std)
            else:
                getattr(nn.init, f"{how}_")(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif (
            isinstance(m, nn.modules.batchnorm._NormBase | nn.LayerNorm | nn.GroupNorm)
            and getattr(m, "weight", None) is not None
        ):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# What a checkpoint's metadata (JSON text, possibly from elsewhere) can raise when it
# does not hold what gan wrote: reported as a CheckpointError.
UNUSABLE_STATE = (ValueError, KeyError, RuntimeError, TypeError, AttributeError, RecursionError)


@dataclass
class StepResult:
    """Per-term losses of one step (detached, on device: no host sync)."""

    losses: dict[str, torch.Tensor]


class Engine:
    """Networks, samplers, optimizers and the step loop of one resolved model."""

    def __init__(self, model: Model, device: torch.device | None = None, data=None) -> None:
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
        gen_device = self.device if self.device.type == "cuda" else torch.device("cpu")
        self.sampler_generator = torch.Generator(gen_device).manual_seed(spec.train.seed + 1)
        self.optimizers = {p.name: self._optimizer(p) for p in model.phases}
        self.data = data
        per_epoch = data.batches_per_epoch if data is not None else 1
        self.schedulers = {
            p.name: sched
            for p in model.phases
            if (sched := schedules.build(p.spec.schedule, self.optimizers[p.name], per_epoch))
        }
        self.step_count = 0
        self._skip_nonfinite = spec.train.on_nan == "skip"
        self.skipped: dict[str, int] = {}
        self._grad_state: dict[str, bool] = {}
        self._plans: dict[tuple[tuple[int, int], ...], list[Execution]] = {}
        calls = {c for c in model.graph.order if c.func in model.ops}
        self._leaf_calls = frozenset(c for c in calls if model.ops[c.func].grad_leaf)
        amp = spec.train.precision != "fp32"
        self._autocast_dtype = torch.bfloat16 if spec.train.precision == "bf16" else torch.float16
        self._amp = amp
        self.scaler = (
            torch.amp.GradScaler(self.device.type)
            if spec.train.precision == "fp16" and self.device.type == "cuda"
            else None
        )
        # Opt-in per-section timing (gan.core.profile.StepTimer); None costs nothing.
        self.timer: StepTimer | None = None
        # Multi-process runs: a gan.core.distributed.GradientSync that averages each
        # phase's gradients over the ranks before its optimizer steps; None otherwise.
        self.sync = None

    # -- construction -----------------------------------------------------------------
    def _optimizer(self, phase: Phase) -> torch.optim.Optimizer:
        comp: Optimizer = phase.optimizer.component  # type: ignore[assignment]
        params = [p for name in phase.spec.updates for p in self.networks[name].parameters()]
        if not params:
            raise SpecError(
                f"phases['{phase.name}'].updates: the networks {phase.spec.updates} have no "
                f"trainable parameters."
            )
        if phase.spec.lr:  # one parameter group per network, some at their own rate
            params = [
                {
                    "params": list(self.networks[name].parameters()),
                    **({"lr": phase.spec.lr[name]} if name in phase.spec.lr else {}),
                }
                for name in phase.spec.updates
            ]
        try:
            return comp.factory(params, **phase.optimizer.params.model_dump())
        except (ValueError, TypeError, RuntimeError) as exc:
            raise SpecError(
                f"phases['{phase.name}'].optimizer (type '{comp.name}'): {exc}. "
                f"Fix the optimizer's parameters."
            ) from None

    # -- planning ---------------------------------------------------------------------
    def plan(self, step: int | None = None) -> list[Execution]:
        """The plan of ``step`` (default: the next step), cached by active-phase pattern."""
        active = expand(self.model.phases, self.step_count if step is None else step)
        key = tuple((p.index, r) for p, r in active)
        if key not in self._plans:
            self._plans[key] = build_plan(
                self.model.graph, self.model.losses, active, self._leaf_calls
            )
        return self._plans[key]

    # -- sources ----------------------------------------------------------------------
    def draw_sources(
        self,
        batch: dict[str, torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """A data batch (``x``, ``y``) followed by every sampler, in spec order, drawn
        from ``generator`` (default: the training stream)."""
        values = dict(batch) if batch is not None else dict(self.data.next())
        n = values["x"].shape[0]
        gen = generator if generator is not None else self.sampler_generator
        for name, draw in self.samplers.items():
            values[name] = draw(n, gen, self.device)
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

    def compute(self, call: Call, grad_nets: frozenset[str], values) -> None:
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
                    out = op.factory(*args, **kwargs)
        except (RuntimeError, ValueError, TypeError, IndexError, AttributeError) as exc:
            # AttributeError: a constant where the op expects a tensor, e.g. cat(x, 0)
            shapes = ", ".join(
                f"{a}{list(values[a].shape)}" if isinstance(a, str) else repr(a) for a in call.args
            )
            kind = "network" if call.func in self.networks else "op"
            where = f"networks.{call.func}" if kind == "network" else "the graph"
            raise SpecError(
                f"graph.{call.key} = \"{call.text}\": {kind} '{call.func}' failed on {shapes}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}. "
                f"Check the sizes in {where} against the nodes it reads (`gan inspect`)."
            ) from None
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

    def evaluate(self, nodes: list[str], values: dict[str, torch.Tensor]):
        """Compute ``nodes`` without gradients (for sampling and evaluation)."""
        with torch.no_grad(), self.autocast():
            for call in self.model.graph.calls_for(nodes):
                self.compute(call, frozenset(), values)
        return {n: values[n] for n in nodes}

    def loss_value(self, term_name: str, updates: frozenset[str], values) -> torch.Tensor:
        term = self.model.losses[term_name]
        kwargs = {k: self._provide(n, updates, values) for k, n in term.node_args.items()}
        kwargs.update(term.const_args)
        target = term.target
        if isinstance(target, str):
            target = self._provide(target, frozenset(), values)
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
        timer = self.timer  # sections: data, forward, backward, optimizer (core/profile.py)
        if timer is not None:
            timer.start()
        plan = self.plan()
        values = self.draw_sources(batch)
        if timer is not None:
            timer.lap("data")
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        for ex in plan:
            if ex.resample:
                values = self.draw_sources()
                if timer is not None:
                    timer.lap("data")
            phase = ex.phase
            opt = self.optimizers[phase.name]
            opt.zero_grad(set_to_none=True)
            if timer is not None:
                timer.lap("optimizer")
            with self.autocast():
                for action in ex.actions:
                    if action.compute:
                        self.compute(action.call, action.grad_nets, values)
                total = None
                terms = {}
                for term, weight in phase.terms:
                    value = self.loss_value(term, phase.updates, values)
                    terms[f"{phase.name}/{term}"] = value.detach().float()
                    total = weight * value if total is None else total + weight * value
            if timer is not None:
                timer.lap("forward")
            if self._skip_nonfinite and not self._finite_everywhere(total):
                # train.on_nan = "skip": one host sync per phase is the price of skipping.
                self.skipped[phase.name] = self.skipped.get(phase.name, 0) + 1
                continue
            for key, value in terms.items():
                sums[key] = sums[key] + value if key in sums else value
                counts[key] = counts.get(key, 0) + 1
            if self.scaler is not None:
                self.scaler.scale(total).backward()
            else:
                total.backward()
            if self.sync is not None:
                self.sync.average_gradients(opt)
            if phase.spec.clip_grad_norm is not None:
                if self.scaler is not None:
                    self.scaler.unscale_(opt)
                for name in phase.spec.updates:
                    nn.utils.clip_grad_norm_(
                        self.networks[name].parameters(), phase.spec.clip_grad_norm
                    )
            if timer is not None:
                timer.lap("backward")
            if self.scaler is not None:
                self.scaler.step(opt)
                self.scaler.update()
            else:
                opt.step()
            if timer is not None:
                timer.lap("optimizer")
        for scheduler in self.schedulers.values():
            scheduler.step()
        self.step_count += 1
        return StepResult({k: v / counts[k] for k, v in sums.items()})

    def _finite_everywhere(self, total: torch.Tensor) -> bool:
        """Whether ``total`` is finite on every rank. Skipping must be agreed, or the
        ranks that skip would miss the gradient all-reduce the others wait in."""
        finite = torch.isfinite(total)
        return self.sync.all_true(finite) if self.sync is not None else bool(finite)

    # -- state ------------------------------------------------------------------------
    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Everything needed to resume exactly, as flat tensors + string metadata."""
        tensors: dict[str, torch.Tensor] = {}
        meta: dict[str, str] = {}
        for name, net in self.networks.items():
            for key, value in net.state_dict().items():
                tensors[f"net.{name}.{key}"] = value.detach().cpu().contiguous()
        for phase, opt in self.optimizers.items():
            state = opt.state_dict()
            scalars: dict[str, dict[str, float]] = {}
            for idx, entry in state["state"].items():
                for key, value in entry.items():
                    if isinstance(value, torch.Tensor):
                        tensors[f"optim.{phase}.{idx}.{key}"] = value.detach().cpu().contiguous()
                    else:
                        scalars.setdefault(str(idx), {})[key] = value
            meta[f"optim.{phase}"] = json.dumps(
                {"param_groups": state["param_groups"], "scalars": scalars}
            )
        for phase, scheduler in self.schedulers.items():
            meta[f"sched.{phase}"] = schedules.state_to_json(scheduler)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.sampler"] = self.sampler_generator.get_state().cpu()
        if torch.cuda.is_available() and self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        np_state = np.random.get_state()
        tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
        meta["rng.numpy"] = json.dumps(
            [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]
        )
        py_state = random.getstate()
        tensors["rng.python"] = torch.tensor(py_state[1], dtype=torch.int64)
        meta["rng.python"] = json.dumps([py_state[0], py_state[2]])
        if self.data is not None:
            for key, value in self.data.state_dict().items():
                tensors[f"data.{key}"] = value
        meta["step"] = str(self.step_count)
        meta["epoch"] = str(self.data.epoch if self.data is not None else 0)
        return tensors, meta

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
        """Restore from :meth:`state_tensors` output; CheckpointError on any mismatch."""
        for name, net in self.networks.items():
            own = net.state_dict()
            prefix = f"net.{name}."
            loaded = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            missing = sorted(set(own) - set(loaded))
            if missing:
                raise CheckpointError(
                    f"The checkpoint has no tensor for network '{name}' key(s) "
                    f"{', '.join(missing[:5])}: it was written for another spec."
                )
            for key, value in own.items():
                if loaded[key].shape != value.shape:
                    raise CheckpointError(
                        f"Network '{name}' tensor '{key}' has shape {tuple(loaded[key].shape)} "
                        f"in the checkpoint but {tuple(value.shape)} in this spec: it was "
                        f"written for another spec."
                    )
            net.load_state_dict({k: loaded[k] for k in own})
        for phase, opt in self.optimizers.items():
            if f"optim.{phase}" not in meta:
                raise CheckpointError(f"The checkpoint has no optimizer state for phase '{phase}'.")
            try:
                info = json.loads(meta[f"optim.{phase}"])
                state: dict[int, dict] = {}
                prefix = f"optim.{phase}."
                for key, value in tensors.items():
                    if key.startswith(prefix):
                        idx, name = key[len(prefix) :].split(".", 1)
                        state.setdefault(int(idx), {})[name] = value
                for idx, entry in info["scalars"].items():
                    state.setdefault(int(idx), {}).update(entry)
                opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
            except UNUSABLE_STATE as exc:
                raise CheckpointError(
                    f"Optimizer state of phase '{phase}' does not fit this spec: {exc}"
                ) from None
        for phase, scheduler in self.schedulers.items():
            if f"sched.{phase}" not in meta:
                raise CheckpointError(
                    f"The checkpoint has no learning-rate schedule state for phase '{phase}'."
                )
            try:
                schedules.load_json(scheduler, meta[f"sched.{phase}"])
            except (ValueError, KeyError, TypeError) as exc:
                raise CheckpointError(
                    f"The learning-rate schedule state of phase '{phase}' is unusable: {exc}"
                ) from None
        try:
            torch.set_rng_state(tensors["rng.torch"])
            self.sampler_generator.set_state(tensors["rng.sampler"])
            if "rng.cuda" in tensors and self.device.type == "cuda":
                torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
            kind, pos, has_gauss, cached = json.loads(meta["rng.numpy"])
            keys = tensors["rng.numpy"].numpy().astype(np.uint32)
            np.random.set_state((kind, keys, pos, has_gauss, cached))
            version, gauss = json.loads(meta["rng.python"])
            random.setstate((version, tuple(int(v) for v in tensors["rng.python"]), gauss))
            if self.data is not None:
                self.data.load_state_dict(
                    {k[5:]: v for k, v in tensors.items() if k.startswith("data.")}
                )
        except UNUSABLE_STATE as exc:
            raise CheckpointError(
                f"The checkpoint's random-number state is unusable: {exc}"
            ) from None
        try:
            self.step_count = int(meta["step"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"The checkpoint's step is unusable: {exc!r}.") from None
