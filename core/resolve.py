"""Spec + registry → a resolved spec (still no tensors).

Every ``type = "..."`` is looked up, every component's parameters are validated by its
own pydantic model, the graph is parsed and checked, and phases are tied to networks,
losses and an optimizer. All errors name the spec key at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gan.core.components import (
    BuildContext,
    Component,
    DataSource,
    Loss,
    Metric,
    Network,
    Op,
    Optimizer,
    Params,
    Sampler,
    node_ref_fields,
)
from gan.core.errors import SpecError, did_you_mean, known
from gan.core.graph import DATA_NODES, Call, Graph
from gan.core.registry import Registry, default_registry
from gan.core.spec import CORE_DATA_KEYS, ComponentSpec, PhaseSpec, Spec


@dataclass(frozen=True)
class Resolved:
    """A component chosen by ``type`` with its validated parameters."""

    name: str
    component: Component
    params: Params


@dataclass(frozen=True)
class LossTerm:
    name: str
    component: Loss
    params: Params
    input: str
    target: float | str | None
    node_args: dict[str, str]  # other parameters that name nodes
    const_args: dict[str, Any]
    # options for the ops producing nodes the term reads (Loss.forwards): node → kwargs
    forwarded: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def nodes(self) -> list[str]:
        nodes = [self.input, *self.node_args.values()]
        if isinstance(self.target, str):
            nodes.append(self.target)
        return nodes


@dataclass(frozen=True)
class Phase:
    index: int
    spec: PhaseSpec
    optimizer: Resolved
    terms: tuple[tuple[str, float], ...]  # (loss name, weight)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def updates(self) -> frozenset[str]:
        return frozenset(self.spec.updates)


@dataclass
class ResolvedSpec:
    """Everything the engine needs to build and train, resolved from a spec."""

    spec: Spec
    registry: Registry
    data_source: Resolved
    context: BuildContext
    samplers: dict[str, Resolved]
    networks: dict[str, Resolved]
    ops: dict[str, Op]
    graph: Graph
    losses: dict[str, LossTerm]
    phases: list[Phase]
    leaf_nodes: frozenset[str] = field(default_factory=frozenset)
    metrics: dict[str, Resolved] = field(default_factory=dict)
    # keyword options of op calls, set by the losses reading them (Loss.forwards)
    op_options: dict[Call, dict[str, Any]] = field(default_factory=dict)


def validate_params(
    component: Component, raw: dict[str, Any], where: str, engine_keys: tuple[str, ...] = ()
) -> Params:
    """``raw`` validated by the component's params model; ``engine_keys``: the keys the
    engine reads beside them (e.g. a network's ``init``), offered by the did-you-mean."""
    try:
        return component.params.model_validate(raw)
    except ValidationError as exc:
        problems = []
        fields = list(component.params.model_fields)
        for err in exc.errors()[:6]:
            key = ".".join(str(p) for p in err["loc"]) or "(parameters)"
            if err["type"] == "extra_forbidden":
                problems.append(
                    f"{where}.{key}: unknown parameter for {component.kind} type "
                    f"'{component.name}'.{did_you_mean(key, [*fields, *engine_keys])} "
                    f"Its parameters: {', '.join(fields) or '(none)'}"
                    + (f"; and the engine's: {', '.join(engine_keys)}." if engine_keys else ".")
                )
            elif err["type"] == "missing":
                problems.append(
                    f"{where}.{key}: required parameter of {component.kind} type "
                    f"'{component.name}' is missing."
                )
            elif not err["loc"]:  # a check across parameters (e.g. low < high)
                problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}.")
            else:
                problems.append(f"{where}.{key} = {err.get('input')!r}: {err['msg']}.")
        raise SpecError("\n".join(problems)) from None


def data_params(source: DataSource, spec: Spec) -> Params:
    """The data source's own parameters from the spec's ``[data]`` table.

    The keys every source shares (:data:`CORE_DATA_KEYS`) are the core's. The other keys
    the spec schema declares (``root``, ``download``, ``image_size``, …) go to the
    sources that read them and are ignored by the others, so switching a spec to
    ``data.source=digits`` needs no other change; a key the schema does not declare must
    be one the source declares, else it is an error with a did-you-mean (a misspelt key
    never silently does nothing)."""
    data = spec.data
    fields = type(data).model_fields
    reads = set(source.params.model_fields)
    extra = dict(data.model_extra or {})
    unknown = sorted(set(extra) - reads)
    if unknown:
        keys = ", ".join(sorted(reads)) or "(none)"
        problems = [
            f"data.{key}: unknown key for data source '{source.name}'."
            f"{did_you_mean(key, [*reads, *fields])} Its own keys: {keys}; every "
            f"source's: {', '.join(sorted(CORE_DATA_KEYS))}."
            for key in unknown
        ]
        raise SpecError("\n".join(problems))
    raw = {k: getattr(data, k) for k in reads if k in fields}
    raw.update({k: v for k, v in extra.items() if k in reads})
    return validate_params(source, raw, "data")


def _resolve(registry: Registry, kind, spec: ComponentSpec, where: str) -> Resolved:
    component = registry.get(kind, spec.type, f"{where}.type")
    engine_keys = tuple(k for k in type(spec).model_fields if k != "type")
    return Resolved(
        where.rsplit(".", 1)[-1],
        component,
        validate_params(component, spec.params, where, engine_keys),
    )


def resolve(spec: Spec, registry: Registry | None = None) -> ResolvedSpec:
    """Resolve a validated spec against the registry; raise SpecError on any problem."""
    registry = registry or default_registry()
    source = registry.get(DataSource, spec.data.source, "data.source")
    data_source = Resolved(source.name, source, data_params(source, spec))
    info = source.describe(data_source.params)
    c, h, w = info.image_shape
    c = spec.data.channels or c  # the core expands single-channel images (core/data.py)
    ctx = BuildContext(image_shape=(int(c), int(h), int(w)), num_classes=info.num_classes)

    networks = {
        name: _resolve(registry, Network, s, f"networks.{name}")
        for name, s in spec.networks.items()
    }
    for name in networks:
        _check_identifier(name, "networks")

    samplers = {}
    for name, s in spec.samplers.items():
        _check_identifier(name, "samplers")
        if name in DATA_NODES:
            raise SpecError(f"samplers.{name}: '{name}' is a data node; rename the sampler.")
        if name in networks:
            raise SpecError(f"samplers.{name}: '{name}' is also a network name; rename one.")
        samplers[name] = _resolve(registry, Sampler, s, f"samplers.{name}")

    ops: dict[str, Op] = {
        e.component.name: e.component for e in registry.all(Op) if isinstance(e.component, Op)
    }
    for name in networks:
        if name in ops:
            raise SpecError(
                f"networks.{name}: '{name}' is also the name of an op; rename the network."
            )
    graph = Graph.build(spec.graph, (*DATA_NODES, *samplers), networks, ops)
    leaf = frozenset(c for c in graph.order if c.func in ops and ops[c.func].grad_leaf)
    leaf_nodes = frozenset(o for c in graph.downstream(leaf) for o in c.outputs)

    losses = {name: _resolve_loss(registry, name, s, graph) for name, s in spec.losses.items()}

    phases = []
    for i, p in enumerate(spec.phases):
        where = f"phases['{p.name}']"
        for net, lr in p.lr.items():
            if net not in p.updates:
                raise SpecError(
                    f"{where}.lr.{net}: '{net}' is not among the networks this phase updates "
                    f"({', '.join(p.updates)}).{did_you_mean(net, p.updates)}"
                )
            if not lr > 0:
                raise SpecError(f"{where}.lr.{net} = {lr}: a learning rate must be positive.")
        for net in p.updates:
            if net not in networks:
                raise SpecError(
                    f"{where}.updates: unknown network '{net}'.{did_you_mean(net, networks)} "
                    f"Networks: {known(networks)}."
                )
        for term in p.losses:
            if term not in losses:
                raise SpecError(
                    f"{where}.losses: unknown loss term '{term}'.{did_you_mean(term, losses)} "
                    f"Loss terms: {known(losses)}."
                )
            deps = frozenset().union(*(graph.nets_of_node(n) for n in losses[term].nodes))
            if not deps & set(p.updates) and not set(losses[term].nodes) & leaf_nodes:
                raise SpecError(
                    f"{where}.losses: term '{term}' does not depend on any network this phase "
                    f"updates ({', '.join(p.updates)}), so it could not change them. Check "
                    f"the term's input nodes or the phase's `updates`."
                )
        opt = _resolve(registry, Optimizer, p.optimizer, f"{where}.optimizer")
        phases.append(Phase(i, p, opt, tuple(p.losses.items())))

    _check_sample(spec, graph, samplers)
    metrics = {
        name: _resolve_metric(registry, name, s, graph) for name, s in spec.eval.metrics.items()
    }
    if spec.eval.best is not None:
        _check_best(spec.eval.best, metrics)
    return ResolvedSpec(
        spec,
        registry,
        data_source,
        ctx,
        samplers,
        networks,
        ops,
        graph,
        losses,
        phases,
        leaf_nodes,
        metrics,
        _op_options(losses, graph, ops),
    )


def _op_options(
    losses: dict[str, LossTerm], graph: Graph, ops: dict[str, Op]
) -> dict[Call, dict[str, Any]]:
    """The keyword options losses pass to the ops producing their nodes: the producer
    must be an op taking that keyword, and two losses must not ask different values."""
    options: dict[Call, dict[str, Any]] = {}
    owner: dict[tuple[Call, str], str] = {}
    for term in losses.values():
        for node, kwargs in term.forwarded.items():
            call = graph.producer.get(node)
            for key, value in kwargs.items():
                where = f"losses.{term.name}.{key}"
                op = ops.get(call.func) if call is not None else None
                if call is None or op is None or not _takes_keyword(op.factory, key):
                    made = f'"{call.text}"' if call is not None else "a source"
                    raise SpecError(
                        f"{where}: it is an option of the op producing '{node}', but "
                        f"'{node}' is made by {made}, which has no '{key}'. Produce it "
                        f'with an op that takes it (e.g. {node} = "interpolate(x, x_fake)"), '
                        f"or remove {key}."
                    )
                have = options.setdefault(call, {})
                if key in have and have[key] != value:
                    raise SpecError(
                        f"{where} = {value!r}, but losses.{owner[(call, key)]}.{key} = "
                        f"{have[key]!r} for the same node '{node}'; one node has one value."
                    )
                have[key] = value
                owner[(call, key)] = term.name
    return options


def _takes_keyword(func: Any, key: str) -> bool:
    import inspect

    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return key in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _check_sample(spec: Spec, graph: Graph, samplers: dict[str, Resolved]) -> None:
    s = spec.sample
    for key in ("node", "reconstruction"):
        if getattr(s, key) is not None:
            graph.require(getattr(s, key), f"sample.{key}")
    for key in ("rows", "traverse"):
        name = getattr(s, key)
        if name is not None and name not in samplers:
            raise SpecError(
                f"sample.{key} = '{name}': not a sampler.{did_you_mean(name, samplers)} "
                f"Samplers: {known(samplers)}."
            )


def _resolve_metric(registry: Registry, name: str, s: ComponentSpec, graph: Graph) -> Resolved:
    where = f"eval.metrics.{name}"
    _check_identifier(name, "eval.metrics")
    resolved = _resolve(registry, Metric, s, where)
    for key in node_ref_fields(resolved.component.params):
        value = getattr(resolved.params, key)
        if value is not None:
            graph.require(value, f"{where}.{key}")
    return resolved


def _check_best(best: str, metrics: dict[str, Resolved]) -> None:
    """``eval.best = "METRIC/KEY"``: the metric is declared and, where its component
    says which of its keys have a better side, KEY is one of them. Checked here, so a
    typo fails before training rather than at the first evaluation."""
    name, _, key = best.partition("/")
    if name not in metrics:
        raise SpecError(
            f"eval.best = '{best:.80}': no metric named '{name:.40}' in [eval.metrics] "
            f"({known(metrics)}). Write 'METRIC/KEY', e.g. 'cluster/acc'."
        )
    component = metrics[name].component
    if not isinstance(component, Metric) or not component.directions:
        return  # a metric that does not rank its keys: any key may be meant
    directions = component.directions
    if key and component.direction(key) is not None:
        return
    ranked = ", ".join(f"{name}/{k}" for k in directions)
    hint = did_you_mean(key, list(directions)) if key else ""
    raise SpecError(
        f"eval.best = '{best:.80}': metric '{name}' ({component.name}) has no key "
        f"'{key:.40}' to choose a checkpoint by.{hint} Its keys with a better side: {ranked}."
    )


def _check_identifier(name: str, section: str) -> None:
    if not name.isidentifier():
        raise SpecError(
            f"{section}.{name}: '{name}' is not a valid name; use letters, digits and '_'."
        )


def _resolve_loss(registry: Registry, name: str, s: ComponentSpec, graph: Graph) -> LossTerm:
    where = f"losses.{name}"
    component = registry.get(Loss, s.type, f"{where}.type")
    params = validate_params(component, s.params, where)
    refs = node_ref_fields(component.params)
    values = params.model_dump()
    node_args, const_args = {}, {}
    forwarded: dict[str, dict[str, Any]] = {}
    for key, node_key in component.forwards:
        if key in params.model_fields_set and values.get(node_key) is not None:
            forwarded.setdefault(values[node_key], {})[key] = values[key]
    skip = {key for key, _ in component.forwards}
    for key, value in values.items():
        if key in ("input", "target") or key in skip:
            continue
        if key in refs and value is not None:
            graph.require(value, f"{where}.{key}")
            node_args[key] = value
        elif key not in refs:
            const_args[key] = value
    graph.require(values["input"], f"{where}.input")
    target = values.get("target")
    if isinstance(target, str):
        graph.require(target, f"{where}.target")
    return LossTerm(
        name, component, params, values["input"], target, node_args, const_args, forwarded
    )
