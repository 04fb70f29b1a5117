"""The execution plan of one training step: which node is computed where, with which
networks' parameters in the autograd graph, and which is reused.

Rules (pinned down by tests):

* In a phase, only the networks it updates have ``requires_grad`` parameters; gradients
  still flow *through* frozen networks to their inputs.
* A node is computed with gradients for ``R = dep_nets(node) ∩ updates`` — nothing else.
  A node with ``R = ∅`` is computed without an autograd graph and passed on detached.
* A node computed earlier in the step is reused until a network it depends on is
  stepped, or its inputs are redrawn: ``fresh = "batch"`` (``fresh_batch``) redraws
  data and latents, ``fresh = "latents"`` the latents only, so that nodes of the data
  alone (no sampler, no random op among their inputs) are still reused.
* Look-ahead: a node needed without gradients now, but with gradients for a network
  ``L`` in the next phase that uses it before ``L`` (or anything it depends on) is
  stepped, is computed once with ``L``'s graph and passed on detached meanwhile. This is
  the ``G(z)`` of a discriminator phase being reused by the generator phase, as every
  hand-written GAN loop does with ``fake.detach()``.
* Simultaneous phases (``simultaneous = true``: a phase with the one before it) form
  one group with one forward: each node the group needs is computed once, with the
  graphs of every network of the group it depends on; the group's first execution
  computes them and the others reuse them. The engine takes each phase's gradients
  with respect to its own networks only, and steps the group's optimizers after the
  last of them (:attr:`Execution.simultaneous`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gan.core.graph import DATA_NODES, Call, Graph
from gan.core.resolve import Phase


@dataclass(frozen=True)
class Action:
    call: Call
    compute: bool  # False: reuse the value from earlier in the step
    grad_nets: frozenset[str]  # networks whose parameters are in the node's graph


@dataclass(frozen=True)
class Execution:
    phase: Phase
    repeat: int
    resample: bool  # draw something fresh before this execution (see ``fresh``)
    actions: tuple[Action, ...]
    # steps with the execution before it, from the same forward: gradients of both are
    # taken before either optimizer steps
    simultaneous: bool = False
    fresh: str = "none"  # "batch": data and latents redrawn; "latents": latents only


def expand(phases: list[Phase], step: int) -> list[tuple[Phase, int]]:
    """Phases active at ``step`` with their repetitions, in spec order."""
    return [
        (p, r)
        for p in phases
        if step >= p.spec.start and step % p.spec.every == 0
        for r in range(p.spec.repeat)
    ]


def needed_nodes(phase: Phase, losses) -> list[str]:
    return [n for name, _ in phase.terms for n in losses[name].nodes]


def _groups(active: list[tuple[Phase, int]]) -> list[list[int]]:
    """Indices of ``active`` grouped: a simultaneous phase joins the group before it."""
    groups: list[list[int]] = []
    for i, (phase, _) in enumerate(active):
        if groups and phase.spec.simultaneous:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def data_only(graph: Graph, random_calls: frozenset[Call]) -> frozenset[Call]:
    """Calls whose value follows from the data batch alone: no sampler and no random op
    among them and their ancestors. A latents-only redraw keeps them."""
    kept: set[Call] = set()
    for call in graph.order:  # parents first: one pass, linear in the graph
        reads = {n for n in call.inputs if n in graph.sources}
        if (
            reads <= set(DATA_NODES)
            and call not in random_calls
            and all(p in kept for p in graph.parents[call])
        ):
            kept.add(call)
    return frozenset(kept)


def build_plan(
    graph: Graph,
    losses,
    active: list[tuple[Phase, int]],
    leaf_calls: frozenset[Call],
    random_calls: frozenset[Call] = frozenset(),
) -> list[Execution]:
    """Plan one step given its active phase executions (see module docstring).
    ``random_calls``: the calls of random ops, redrawn with the latents."""
    needed = [graph.calls_for(needed_nodes(p, losses)) for p, _ in active]
    groups = _groups(active)
    updates = [frozenset().union(*(active[i][0].updates for i in g)) for g in groups]
    group_needed = [[c for c in graph.order if any(c in needed[i] for i in g)] for g in groups]
    fresh = [active[g[0]][0].spec.redraw if k > 0 else "none" for k, g in enumerate(groups)]
    kept = data_only(graph, random_calls | leaf_calls)

    def redrawn(call: Call, k: int) -> bool:
        return fresh[k] == "batch" or (fresh[k] == "latents" and call not in kept)

    def lookahead(call: Call, k: int) -> frozenset[str]:
        deps = graph.dep_nets[call]
        if deps & updates[k]:
            return frozenset()
        for h in range(k + 1, len(groups)):
            if redrawn(call, h):
                return frozenset()
            if call in group_needed[h] and deps & updates[h]:
                return deps & updates[h]
            if deps & updates[h]:
                return frozenset()
        return frozenset()

    after_leaf = graph.downstream(leaf_calls)  # leaf calls and what depends on them
    cache: dict[Call, frozenset[str]] = {}
    plan = []
    for k, group in enumerate(groups):
        for call in [c for c in cache if redrawn(c, k)]:
            del cache[call]
        actions = []
        for call in group_needed[k]:
            required = graph.dep_nets[call] & updates[k]
            have = cache.get(call)
            if have is not None and required <= have:
                actions.append(Action(call, False, have))
                continue
            nets = required or lookahead(call, k)
            if call in after_leaf:
                nets = required  # random grad-leaf nodes are never kept for later phases
            actions.append(Action(call, True, nets))
            cache[call] = nets
        for n, i in enumerate(group):
            phase, rep = active[i]
            if n == 0:
                mine = tuple(a for a in actions if a.compute or a.call in needed[i])
            else:  # the group's forward is computed by its first execution
                mine = tuple(Action(c, False, cache[c]) for c in needed[i])
            draw = fresh[k] if n == 0 else "none"
            plan.append(Execution(phase, rep, draw != "none", mine, n > 0, draw))
        for call in list(cache):
            if graph.dep_nets[call] & updates[k]:
                del cache[call]
    return plan
