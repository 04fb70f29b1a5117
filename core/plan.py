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


def build_plan(
    graph: Graph, losses, active: list[tuple[Phase, int]], leaf_calls: frozenset[Call]
) -> list[Execution]:
    """Plan one step given its active phase executions (see module docstring)."""
    needed = [graph.calls_for(needed_nodes(p, losses)) for p, _ in active]
    resample = [i > 0 and p.spec.fresh_batch for i, (p, _) in enumerate(active)]

    def lookahead(call: Call, i: int) -> frozenset[str]:
        deps = graph.dep_nets[call]
        if deps & active[i][0].updates:
            return frozenset()
        for j in range(i + 1, len(active)):
            if resample[j]:
                return frozenset()
            phase = active[j][0]
            if call in needed[j] and deps & phase.updates:
                return deps & phase.updates
            if deps & phase.updates:
                return frozenset()
        return frozenset()

    after_leaf = graph.downstream(leaf_calls)  # leaf calls and what depends on them
    cache: dict[Call, frozenset[str]] = {}
    plan = []
    for i, (phase, rep) in enumerate(active):
        if resample[i]:
            cache.clear()
        actions = []
        for call in needed[i]:
            required = graph.dep_nets[call] & phase.updates
            have = cache.get(call)
            if have is not None and required <= have:
                actions.append(Action(call, False, have))
                continue
            nets = required or lookahead(call, i)
            if call in after_leaf:
                nets = required  # random grad-leaf nodes are never kept for later phases
            actions.append(Action(call, True, nets))
            cache[call] = nets
        for call in list(cache):
            if graph.dep_nets[call] & phase.updates:
                del cache[call]
        plan.append(Execution(phase, rep, resample[i], tuple(actions)))
    return plan
