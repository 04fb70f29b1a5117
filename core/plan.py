"""The execution plan of one training step: which node is computed where, with which
networks' parameters in the autograd graph, and which is reused.

Rules (pinned down by tests):

* In a phase, only the networks it updates have ``requires_grad`` parameters; gradients
  still flow *through* frozen networks to their inputs.
* A node is computed with gradients for ``R = dep_nets(node) ∩ updates`` — nothing else.
  A node with ``R = ∅`` is computed without an autograd graph and passed on detached.
* A node computed earlier in the step is reused until a network it depends on is
  stepped (or the batch is redrawn by ``fresh_batch``).
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

from gan.core.graph import Call, Graph
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
    resample: bool  # draw fresh data and latent samples before this execution
    actions: tuple[Action, ...]
    # steps with the execution before it, from the same forward: gradients of both are
    # taken before either optimizer steps
    simultaneous: bool = False


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


def build_plan(
    graph: Graph, losses, active: list[tuple[Phase, int]], leaf_calls: frozenset[Call]
) -> list[Execution]:
    """Plan one step given its active phase executions (see module docstring)."""
    needed = [graph.calls_for(needed_nodes(p, losses)) for p, _ in active]
    groups = _groups(active)
    updates = [frozenset().union(*(active[i][0].updates for i in g)) for g in groups]
    group_needed = [[c for c in graph.order if any(c in needed[i] for i in g)] for g in groups]
    resample = [k > 0 and active[g[0]][0].spec.fresh_batch for k, g in enumerate(groups)]

    def lookahead(call: Call, k: int) -> frozenset[str]:
        deps = graph.dep_nets[call]
        if deps & updates[k]:
            return frozenset()
        for h in range(k + 1, len(groups)):
            if resample[h]:
                return frozenset()
            if call in group_needed[h] and deps & updates[h]:
                return deps & updates[h]
            if deps & updates[h]:
                return frozenset()
        return frozenset()

    cache: dict[Call, frozenset[str]] = {}
    plan = []
    for k, group in enumerate(groups):
        if resample[k]:
            cache.clear()
        actions = []
        for call in group_needed[k]:
            required = graph.dep_nets[call] & updates[k]
            have = cache.get(call)
            if have is not None and required <= have:
                actions.append(Action(call, False, have))
                continue
            nets = required or lookahead(call, k)
            if call in leaf_calls or graph.ancestors[call] & leaf_calls:
                nets = required  # random grad-leaf nodes are never kept for later phases
            actions.append(Action(call, True, nets))
            cache[call] = nets
        for n, i in enumerate(group):
            phase, rep = active[i]
            if n == 0:
                mine = tuple(a for a in actions if a.compute or a.call in needed[i])
            else:  # the group's forward is computed by its first execution
                mine = tuple(Action(c, False, cache[c]) for c in needed[i])
            plan.append(Execution(phase, rep, resample[k] and n == 0, mine, n > 0))
        for call in list(cache):
            if graph.dep_nets[call] & updates[k]:
                del cache[call]
    return plan
