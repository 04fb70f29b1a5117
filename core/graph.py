"""The graph of named tensors.

``[graph]`` maps node names to expressions: ``x_fake = "G(z)"``,
``"zn_hat, zc_logits" = "E(x_fake)"``. An expression is one call of a network or a
registered op on node names and numeric constants. It is parsed with :mod:`ast` and
only names, calls, numbers and tuples are accepted — nothing is ever evaluated.

Source nodes have no expression: the data nodes (``x``, ``y``) and one node per sampler.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from gan.core.errors import SpecError, did_you_mean, known

DATA_NODES = ("x", "y")
MAX_NODES = 10_000
"""Entries of ``[graph]`` a spec may have: resolving and planning are linear in it, and a
real GAN has tens; the cap keeps a generated or hostile spec from taking minutes."""


@dataclass(frozen=True)
class Call:
    """One graph expression: ``outputs = func(args)``."""

    outputs: tuple[str, ...]
    func: str
    args: tuple[str | int | float, ...]
    text: str

    @property
    def key(self) -> str:
        return ", ".join(self.outputs)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if isinstance(a, str))


def parse_call(key: str, expr: str) -> Call:
    """Parse one ``[graph]`` entry; raise SpecError naming the key on any problem."""
    where = f"graph.{key}"
    outputs = tuple(part.strip() for part in key.split(","))
    for name in outputs:
        if not name.isidentifier():
            raise SpecError(
                f"{where}: '{name}' is not a valid node name. Node names are identifiers "
                f"(letters, digits, '_'); several outputs are separated by commas."
            )
    if len(set(outputs)) != len(outputs):
        raise SpecError(f"{where}: the same output name appears twice.")
    if not isinstance(expr, str):
        raise SpecError(f'{where} = {expr!r}: an expression must be a string like "G(z)".')
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise SpecError(
            f'{where} = {expr!r}: not a call expression. Write e.g. "G(z)" or "D(x, z_enc)".'
        ) from None
    body = tree.body
    func = _dotted_name(body.func) if isinstance(body, ast.Call) else None
    if func is None or not isinstance(body, ast.Call):
        raise SpecError(
            f"{where} = {expr!r}: an expression must be one call of a network or op on node "
            f'names, e.g. "G(z)".'
        )
    if body.keywords:
        raise SpecError(f"{where} = {expr!r}: keyword arguments are not supported.")
    args: list[str | int | float] = []
    for arg in body.args:
        if isinstance(arg, ast.Name):
            args.append(arg.id)
        elif (
            isinstance(arg, ast.Constant)
            and isinstance(arg.value, int | float)
            and not isinstance(arg.value, bool)
        ):
            args.append(arg.value)
        elif (
            isinstance(arg, ast.UnaryOp)
            and isinstance(arg.op, ast.USub)
            and isinstance(arg.operand, ast.Constant)
            and isinstance(arg.operand.value, int | float)
        ):
            args.append(-arg.operand.value)
        elif isinstance(arg, ast.Call):
            raise SpecError(
                f"{where} = {expr!r}: nested calls are not supported; give the inner call "
                f'a node of its own (e.g. x_fake = "G(z)", then "D(x_fake)").'
            )
        else:
            raise SpecError(
                f"{where} = {expr!r}: arguments must be node names or numbers, "
                f"not {ast.unparse(arg)!r}."
            )
    return Call(outputs=outputs, func=func, args=tuple(args), text=expr.strip())


def _dotted_name(node: ast.expr) -> str | None:
    """``G`` → "G"; ``aae.reparam`` → "aae.reparam" (plugin-prefixed op names)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


@dataclass
class Graph:
    """Nodes, the call that produces each, and the dependency structure."""

    sources: tuple[str, ...]
    calls: list[Call]
    networks: frozenset[str]
    producer: dict[str, Call] = field(default_factory=dict)
    order: list[Call] = field(default_factory=list)  # topological
    dep_nets: dict[Call, frozenset[str]] = field(default_factory=dict)
    parents: dict[Call, tuple[Call, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        table: dict[str, str],
        sources: Iterable[str],
        networks: Iterable[str],
        ops: Iterable[str],
    ) -> Graph:
        """Parse, check and order ``table``. Linear in the number of nodes: nothing here
        keeps a per-node set of ancestors (a chain of N nodes would hold N²/2 entries);
        :meth:`calls_for` and :meth:`downstream` walk the parents instead."""
        if len(table) > MAX_NODES:
            raise SpecError(
                f"graph: {len(table)} entries; at most {MAX_NODES} are supported (a GAN needs "
                f"tens). Check that the spec was not generated by mistake."
            )
        sources = tuple(sources)
        networks = frozenset(networks)
        ops = frozenset(ops)
        calls = [parse_call(k, v) for k, v in table.items()]
        producer: dict[str, Call] = {}
        for call in calls:
            for out in call.outputs:
                where = f"graph.{call.key}"
                if out in sources:
                    raise SpecError(
                        f"{where}: '{out}' is already a source node (data or sampler); "
                        f"choose another name."
                    )
                if out in networks:
                    raise SpecError(f"{where}: '{out}' is already a network name.")
                if out in producer:
                    raise SpecError(f"{where}: node '{out}' is defined twice.")
                producer[out] = call
        known_nodes = set(sources) | set(producer)
        for call in calls:
            where = f'graph.{call.key} = "{call.text}"'
            if call.func not in networks and call.func not in ops:
                raise SpecError(
                    f"{where}: '{call.func}' is neither a network nor an op."
                    f"{did_you_mean(call.func, networks | ops)} Networks: {known(networks)}; "
                    f"ops: {known(ops)}."
                )
            for name in call.inputs:
                if name not in known_nodes:
                    raise SpecError(
                        f"{where}: unknown node '{name}'.{did_you_mean(name, known_nodes)} "
                        f"Known nodes: {known(known_nodes)}."
                    )
        sorter: graphlib.TopologicalSorter[Call] = graphlib.TopologicalSorter()
        for call in calls:
            sorter.add(call, *(producer[n] for n in call.inputs if n in producer))
        try:
            order = list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            names = " → ".join(c.key for c in cycle)
            raise SpecError(
                f"graph: the nodes form a cycle ({names}). A node cannot depend on itself, "
                f"directly or through others."
            ) from None
        graph = cls(sources, calls, networks, producer, order)
        for call in order:
            parents = tuple(dict.fromkeys(producer[n] for n in call.inputs if n in producer))
            nets = {call.func} if call.func in networks else set()
            for p in parents:
                nets |= graph.dep_nets[p]  # bounded by the number of networks
            graph.dep_nets[call] = frozenset(nets)
            graph.parents[call] = parents
        return graph

    def node_names(self) -> list[str]:
        return list(self.sources) + [o for c in self.order for o in c.outputs]

    def has(self, name: str) -> bool:
        return name in self.sources or name in self.producer

    def require(self, name: str, where: str) -> None:
        if not self.has(name):
            names = self.node_names()
            raise SpecError(
                f"{where}: unknown node '{name}'.{did_you_mean(name, names)} "
                f"Known nodes: {known(names)}."
            )

    def calls_for(self, nodes: Iterable[str]) -> list[Call]:
        """The calls needed to compute ``nodes``, in topological order."""
        stack = [c for n in nodes if (c := self.producer.get(n)) is not None]
        needed: set[Call] = set()
        while stack:  # each call visited once: linear in the graph's size
            call = stack.pop()
            if call not in needed:
                needed.add(call)
                stack.extend(self.parents[call])
        return [c for c in self.order if c in needed]

    def downstream(self, calls: Iterable[Call]) -> frozenset[Call]:
        """``calls`` and every call that depends on one of them, in one pass over the
        topological order."""
        found = set(calls)
        for call in self.order:
            if call not in found and any(p in found for p in self.parents[call]):
                found.add(call)
        return frozenset(found)

    def nets_of_node(self, name: str) -> frozenset[str]:
        call = self.producer.get(name)
        return self.dep_nets[call] if call is not None else frozenset()
