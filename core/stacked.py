"""Many seeds of one model stepped as one set of kernels (``train.seeds``).

K engines of the same resolved model differ only in their seed. Their parameters and
buffers are stacked along a new first dimension (:func:`torch.func.stack_module_state`)
and every phase runs once for all seeds: each network is called through
:func:`torch.func.functional_call` under :func:`torch.vmap`, one backward pass reaches
every seed's stacked gradient, and one optimizer steps the stacked tensors. Adam and SGD
are elementwise, so one optimizer over stacked tensors is exactly K optimizers; gradient
clipping is computed per seed here, and the learning-rate schedules stay the engines' own
(a function of the step counter, the same for every seed).

The K engines stay the seeds' own view of their run: their parameters and buffers are
views of the stacked tensors and their optimizers' state are views of the stacked state,
so evaluation, samples and checkpoints read them as if each had trained alone. Each seed
draws its batch and latents from its own engine's streams, outside ``vmap``, so seed k
sees exactly the numbers a run of seed k alone would see.

What ``vmap`` cannot do is named by :func:`obstacle`, and the caller then steps the seeds
one by one (:mod:`gan.training.replicas`).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from gan.core.engine import Engine, StepResult
from gan.core.graph import DATA_NODES
from gan.core.plan import Execution

__all__ = ["StackedSteps", "obstacle", "shared_noise", "time_forms"]

Values = dict[str, torch.Tensor]


def obstacle(engines: list[Engine]) -> str | None:
    """Why these engines cannot be stepped as one vectorised set (None: they can)."""
    base = engines[0]
    spec = base.model.spec
    if len(engines) < 2:
        return "a single seed"
    if base.scaler is not None:
        return "fp16 loss scaling skips a step for every seed when one seed overflows"
    if spec.train.on_nan == "skip":
        return 'train.on_nan = "skip" decides per seed whether a phase steps'
    if base.sync is not None:
        return "multi-process gradient averaging"
    if base.compiled.value == "compiled":
        return "train.compile wraps the networks, which vmap does not see through"
    for call in base.model.graph.order:
        op = base.model.ops.get(call.func)
        if op is not None and op.grad_leaf:
            return (
                f"op '{call.func}' makes a leaf that a loss differentiates (a gradient "
                f"penalty), and torch.autograd.grad cannot reach it inside vmap"
            )
    return None


def shared_noise(engines: list[Engine]) -> str | None:
    """Which op draws noise inside the graph (None: none does). Vectorised, its draws
    for all seeds come from one generator of the stacked step, so the seeds stay
    independent but that noise is not the stream a run of one seed alone would draw."""
    base = engines[0]
    for call in base.model.graph.order:
        op = base.model.ops.get(call.func)
        if op is not None and op.random:
            return call.func
    return None


class _Bound:
    """A network called with the current seed's parameters (set inside ``vmap``).

    BatchNorm with a cumulative average (``momentum=None``) reads its step counter on the
    host (``1 / num_batches_tracked``), which ``vmap`` cannot. The seeds step together,
    so their counters are equal: the counter is read once before ``vmap``
    (:meth:`read_counters`) and counted here per training call, and each such call runs
    with ``momentum = 1 / count``, the factor torch would have computed.
    """

    def __init__(self, template: nn.Module) -> None:
        self.template = template
        self.grad = True
        self.params: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, torch.Tensor] = {}
        self.cumulative = {
            name: m
            for name, m in template.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and m.momentum is None
            and m.track_running_stats
        }
        self.counts = dict.fromkeys(self.cumulative, 0)

    def read_counters(self, stacked_buffers: dict[str, torch.Tensor]) -> None:
        for name in self.cumulative:
            key = f"{name}.num_batches_tracked" if name else "num_batches_tracked"
            self.counts[name] = int(stacked_buffers[key][0])

    def __call__(self, *args: Any) -> Any:
        params = self.params if self.grad else {k: v.detach() for k, v in self.params.items()}
        if not (self.cumulative and self.template.training):
            return functional_call(self.template, (params, self.buffers), args)
        for name, module in self.cumulative.items():
            self.counts[name] += 1
            module.momentum = 1.0 / self.counts[name]
        try:
            return functional_call(self.template, (params, self.buffers), args)
        finally:
            for module in self.cumulative.values():
                module.momentum = None


class _VmapView(Engine):
    """The first engine's graph, losses and plan, with networks bound to one seed's
    slice of the stacked tensors. It shares that engine's state (no ``__init__``), so it
    computes nodes and losses by the very code a single run uses."""

    def __init__(self, base: Engine, bound: dict[str, _Bound]) -> None:
        self.__dict__.update(base.__dict__)
        self.bound = bound
        self.networks = bound  # type: ignore[assignment]  # only indexed and tested with `in`
        self._grad_state = {}
        self._ran = set()

    def _set_requires_grad(self, name: str, flag: bool) -> None:
        # the stacked leaves always require grad: a frozen network is called detached
        self.bound[name].grad = flag


class StackedSteps:
    """K engines of one model, stepped together (see the module docstring)."""

    def __init__(self, engines: list[Engine], randomness: str = "different") -> None:
        self.engines = engines
        self.k = len(engines)
        base = engines[0]
        self.base = base
        self.randomness = randomness
        self.params: dict[str, dict[str, torch.Tensor]] = {}
        self.buffers: dict[str, dict[str, torch.Tensor]] = {}
        templates: dict[str, nn.Module] = {}
        for net in base.networks:
            modules = [e.networks[net] for e in engines]
            templates[net] = copy.deepcopy(modules[0])
            params, buffers = stack_module_state(modules)  # type: ignore[arg-type]
            for tensor in params.values():  # an engine may have frozen a network last
                tensor.requires_grad_(True)
            self.params[net], self.buffers[net] = params, buffers
            for k, module in enumerate(modules):
                _share(module, params, buffers, k)
        self.bound = {net: _Bound(t) for net, t in templates.items()}
        self.view = _VmapView(base, self.bound)
        # in-graph noise (shared_noise): one generator for every seed's draws under vmap
        seeds = tuple(e.model.spec.train.seed for e in engines)
        device = base.sampler_generator.device
        self.view.sampler_generator = torch.Generator(device).manual_seed(hash(seeds) % 2**62)
        # per phase: the stacked tensors in the order of each engine's own optimizer
        self.order = {
            p.name: [
                (net, name)
                for net in p.spec.updates
                for name, _ in templates[net].named_parameters()
            ]
            for p in base.model.phases
        }
        self.optimizers = {p.name: self._optimizer(p) for p in base.model.phases}
        self._linked: set[str] = set()
        for p in base.model.phases:
            self._adopt_state(p.name)

    # -- construction -----------------------------------------------------------------
    def _optimizer(self, phase) -> torch.optim.Optimizer:
        """The phase's optimizer, built by its own component, over the stacked tensors
        (one parameter group per network when the phase sets per-network rates)."""
        from gan.core.components import OptimizerContext

        comp = phase.optimizer.component
        own = self.base.optimizers[phase.name]
        groups: list[Any]
        if len(own.param_groups) == 1:
            groups = [self.params[n][name] for n, name in self.order[phase.name]]
        else:
            groups = [
                {"params": list(self.params[net].values()), "lr": g["lr"]}
                for net, g in zip(phase.spec.updates, own.param_groups, strict=True)
            ]
        return comp.factory(phase.optimizer.params, OptimizerContext(groups, self.base.device))

    def _pairs(self, phase: str) -> list[tuple[torch.Tensor, list[nn.Parameter]]]:
        """Each stacked tensor with the K engines' parameters it holds."""
        own = [
            [p for g in e.optimizers[phase].param_groups for p in g["params"]] for e in self.engines
        ]
        stacked = [self.params[n][name] for n, name in self.order[phase]]
        return [(s, [ps[i] for ps in own]) for i, s in enumerate(stacked)]

    def _adopt_state(self, phase: str) -> None:
        """A resumed run: the engines' loaded optimizer states become the stacked state."""
        opt = self.optimizers[phase]
        for stacked, params in self._pairs(phase):
            states = [
                e.optimizers[phase].state.get(p) for e, p in zip(self.engines, params, strict=True)
            ]
            if not all(states):
                return
            first: dict[str, Any] = states[0]  # type: ignore[assignment]
            opt.state[stacked] = {
                key: (
                    torch.stack([s[key] for s in states])  # type: ignore[index]
                    if isinstance(v, torch.Tensor) and v.shape == params[0].shape
                    else (v.clone() if isinstance(v, torch.Tensor) else v)
                )
                for key, v in first.items()
            }
        self._link(phase)

    def _link(self, phase: str) -> None:
        """Each engine's optimizer state becomes views of the stacked state, so its
        ``state_dict()`` (a checkpoint) holds that seed's own moments."""
        opt = self.optimizers[phase]
        for stacked, params in self._pairs(phase):
            state = opt.state.get(stacked)
            if not state:
                return
            for k, (engine, p) in enumerate(zip(self.engines, params, strict=True)):
                engine.optimizers[phase].state[p] = {
                    key: v[k] if isinstance(v, torch.Tensor) and v.shape == stacked.shape else v
                    for key, v in state.items()
                }
        self._linked.add(phase)

    # -- stepping ---------------------------------------------------------------------
    def next_batches(self) -> list[dict[str, torch.Tensor]]:
        """Every seed's next batch from its own data stream."""
        return [dict(e.data.next()) for e in self.engines]

    def draw(self, batches: list[dict[str, torch.Tensor]] | None = None) -> Values:
        """Every seed's batch (drawn here unless given) and latents from its own
        engine's streams, stacked: a training step's draw (samplers follow data nodes
        where the spec says so)."""
        given: list[dict[str, torch.Tensor] | None] = [None] * self.k
        if batches is not None:
            given = list(batches)
        drawn = [e.draw_sources(b, training=True) for e, b in zip(self.engines, given, strict=True)]
        return {key: torch.stack([d[key] for d in drawn]) for key in drawn[0]}

    def forward(
        self, ex: Execution, values: Values
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], Values]:
        """One phase execution for every seed: ``(totals[K], terms[K], values)``."""

        def one_seed(params, buffers, vals):
            for net, bound in self.bound.items():
                bound.params, bound.buffers = params[net], buffers[net]
            vals = dict(vals)
            total, terms = self.view.forward(ex, vals)
            return total, terms, vals

        for net, bound in self.bound.items():
            bound.template.train(self.base.networks[net].training)
            bound.read_counters(self.buffers[net])
        batched = torch.vmap(one_seed, randomness=self.randomness)  # type: ignore[arg-type]
        return batched(self.params, self.buffers, values)

    def clip(self, phase) -> None:
        """``phases[].clip_grad_norm`` per seed and per network, as
        :func:`torch.nn.utils.clip_grad_norm_` does for one."""
        max_norm = phase.spec.clip_grad_norm
        if max_norm is None:
            return
        for net in phase.spec.updates:
            grads = [s.grad for s in self.params[net].values() if s.grad is not None]
            if not grads:
                continue
            norms = torch.stack(
                [torch.linalg.vector_norm(g.reshape(self.k, -1), dim=1) for g in grads]
            )
            total = torch.linalg.vector_norm(norms, dim=0)
            coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            for g in grads:
                g.mul_(coef.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))

    def step(self, batches: list[dict[str, torch.Tensor]] | None = None) -> list[StepResult]:
        """One training step of every seed (the engines' :meth:`Engine.step`, vectorised);
        ``batches``: each seed's batch, when drawn already (a CUDA graph's static input)."""
        self._follow_rates()
        plan = self.base.plan()
        values = self.draw(batches)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        waiting: list[Any] = []  # simultaneous phases: stepped after their group
        for k, ex in enumerate(plan):
            if ex.fresh == "latents":  # each seed's own data batch, new latents
                data = [{n: values[n][i] for n in DATA_NODES if n in values} for i in range(self.k)]
                values = {**values, **self.draw(data)}
            elif ex.resample:
                values = self.draw()
            more = k + 1 < len(plan) and plan[k + 1].simultaneous
            grouped = ex.simultaneous or more
            opt = self.optimizers[ex.phase.name]
            opt.zero_grad(set_to_none=True)
            total, terms, values = self.forward(ex, values)
            for key, value in terms.items():
                sums[key] = sums[key] + value if key in sums else value
                counts[key] = counts.get(key, 0) + 1
            # the seeds are independent: each gets its own gradient from the sum
            if grouped:  # one forward for the group (core/plan.py): only this phase's
                inputs = [self.params[n][name] for n, name in self.order[ex.phase.name]]
                total.sum().backward(inputs=inputs, retain_graph=more)
                waiting.append(ex.phase)
                if not more:
                    for phase in waiting:
                        self._step_phase(phase)
                    waiting.clear()
                continue
            total.sum().backward()
            self._step_phase(ex.phase)
        for engine in self.engines:
            engine.advance()
        means = {k: v / counts[k] for k, v in sums.items()}
        return [StepResult({k: v[i] for k, v in means.items()}) for i in range(self.k)]

    def _step_phase(self, phase) -> None:
        self.clip(phase)
        self.optimizers[phase.name].step()
        if phase.name not in self._linked:
            self._link(phase.name)

    def _follow_rates(self) -> None:
        """The rates the engines' schedules set (every seed's are the same)."""
        for name, opt in self.optimizers.items():
            own = self.base.optimizers[name].param_groups
            for group, src in zip(opt.param_groups, own, strict=True):
                group["lr"] = src["lr"]

    # -- measuring --------------------------------------------------------------------
    def probe_values(self) -> list[Values]:
        """One batch per seed drawn without advancing any stream (for checks and timing)."""
        out = []
        for engine in self.engines:
            data = engine.data
            n = data.batch_size
            batch = {"x": data.images[:n].to(engine.device), "y": data.labels[:n].to(engine.device)}
            gen = torch.Generator(engine.sampler_generator.device).manual_seed(0)
            out.append(engine.draw_sources(batch, generator=gen, training=True))
        return out


def _share(module: nn.Module, params: dict, buffers: dict, k: int) -> None:
    """Make ``module``'s parameters and buffers views of slice ``k`` of the stacked ones."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.data = params[name].detach()[k]
        for name in [n for n, _ in module.named_buffers()]:
            owner, _, leaf = name.rpartition(".")
            sub = module.get_submodule(owner) if owner else module
            sub._buffers[leaf] = buffers[name][k]


@contextlib.contextmanager
def _restored(tensors: list[torch.Tensor]):
    """Put these tensors back as they were (BatchNorm statistics after a trial pass)."""
    saved = [t.detach().clone() for t in tensors]
    try:
        yield
    finally:
        with torch.no_grad():
            for t, s in zip(tensors, saved, strict=True):
                t.copy_(s)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forms(stacked: StackedSteps, repeats: int = 3) -> tuple[float, float]:
    """Seconds of one step's forward and backward passes, vectorised and seed by seed,
    measured on one batch per seed (no optimizer steps; buffers and gradients restored).
    Raises what ``vmap`` raises when it cannot run this model."""
    per_seed = stacked.probe_values()
    values = {key: torch.stack([v[key] for v in per_seed]) for key in per_seed[0]}
    plan = stacked.base.plan()
    buffers = [b for bufs in stacked.buffers.values() for b in bufs.values()]

    def vectorised() -> None:
        vals = values
        for ex in plan:
            total, _, vals = stacked.forward(ex, vals)
            total.sum().backward()

    def seed_by_seed() -> None:
        for engine, vals in zip(stacked.engines, per_seed, strict=True):
            vals = dict(vals)
            for ex in plan:
                total, _ = engine.forward(ex, vals)
                total.backward()

    def timed(fn: Callable[[], None]) -> float:
        _sync(stacked.base.device)
        t0 = time.perf_counter()
        fn()
        _sync(stacked.base.device)
        return time.perf_counter() - t0

    def best_of_interleaved() -> tuple[float, float]:
        """Each form's best of ``repeats`` calls, the two forms alternating, so a burst of
        other load on a shared machine falls on both, not on whichever ran second."""
        vectorised()  # warm-up calls (allocator, kernels' first use)
        seed_by_seed()
        together, apart = [], []
        for _ in range(repeats):
            together.append(timed(vectorised))
            apart.append(timed(seed_by_seed))
        return min(together), min(apart)

    generators = [e.sampler_generator for e in stacked.engines] + [stacked.view.sampler_generator]
    states = [g.get_state() for g in generators]
    process_rng = torch.get_rng_state()
    with _restored(buffers):
        try:
            return best_of_interleaved()
        finally:
            for opt in stacked.optimizers.values():
                opt.zero_grad(set_to_none=True)
            for engine in stacked.engines:
                for opt in engine.optimizers.values():
                    opt.zero_grad(set_to_none=True)
            for g, st in zip(generators, states, strict=True):  # the trial drew nothing
                g.set_state(st)
            torch.set_rng_state(process_rng)
