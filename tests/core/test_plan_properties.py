"""Properties of the step plan (core/plan.py), over the shipped models' graphs and random
phase schedules (repeat, every, fresh, simultaneous, the step):

* a node is never reused after a network it depends on has stepped, nor across a fresh
  draw of what it reads (data and latents; latents alone keep nodes of the data alone);
* a node is computed with gradients for a network only when the phase computing it (with
  the phases stepping simultaneously with it), or the later phase it is kept for,
  updates that network;
* in the engine, a phase's backward pass leaves the gradients of the networks it does
  not update untouched (frozen networks pass gradients through, never receive them).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gan.core.phase import PhaseStep
from gan.core.plan import build_plan, expand
from gan.core.resolve import resolve
from gan.core.spec import load_spec
from gan.testing import tiny_engine

SPECS = ("bigan", "clustergan", "aae", "infogan", "cgan")


def schedule() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {
            "repeat": st.integers(1, 3),
            "every": st.integers(1, 3),
            "fresh": st.sampled_from(["none", "latents", "batch"]),
            "simultaneous": st.booleans(),
        }
    )


def overrides_for(spec_name: str, phases: list[dict]) -> list[str]:
    """Overrides setting the drawn schedules; ``simultaneous`` is kept only where the
    spec allows it (after a phase, repeat 1 on both, same every, disjoint updates)."""
    specs = load_spec(spec_name).phases
    out = []
    for i, (spec, p) in enumerate(zip(specs, phases, strict=False)):
        p = dict(p)
        before = phases[i - 1] if i else None
        p["simultaneous"] = bool(
            p["simultaneous"]
            and before is not None
            and p["repeat"] == before["repeat"] == 1
            and p["every"] == before["every"]
            and p["fresh"] == "none"
            and spec.start == specs[i - 1].start
            and not set(spec.updates) & set(specs[i - 1].updates)
        )
        out += [f"phases.{spec.name}.fresh_batch=false"]
        out += [f"phases.{spec.name}.{k}={str(v).lower()}" for k, v in p.items() if k != "fresh"]
        out += [f'phases.{spec.name}.fresh="{p["fresh"]}"']
    return out


def data_alone(model) -> frozenset:
    """Calls reading neither a sampler nor a random op (kept by a latents redraw)."""
    graph = model.graph
    return frozenset(
        c
        for c in graph.order
        if not any(
            n in model.samplers or (d.func in model.ops and model.ops[d.func].random)
            for d in graph.calls_for(c.outputs)  # c and its ancestors
            for n in (*d.inputs, d.func)
        )
    )


settings_ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", SPECS)
@settings_
@given(phases=st.lists(schedule(), min_size=4, max_size=4), step=st.integers(0, 6))
def test_plans_never_reuse_stale_nodes_nor_grant_gradients_elsewhere(name, phases, step):
    model = resolve(load_spec(name, overrides_for(name, phases)))
    active = expand(model.phases, step)
    leaf_calls = frozenset(
        c for c in model.graph.order if c.func in model.ops and model.ops[c.func].grad_leaf
    )
    random_calls = frozenset(
        c for c in model.graph.order if c.func in model.ops and model.ops[c.func].random
    )
    plan = build_plan(model.graph, model.losses, active, leaf_calls, random_calls)
    assert [(ex.phase.index, ex.repeat) for ex in plan] == [(p.index, r) for p, r in active]
    # the group of each execution: it and the simultaneous executions around it
    group = []
    for i, ex in enumerate(plan):
        group.append(group[-1] if ex.simultaneous and i else i)
    members = {g: [i for i in range(len(plan)) if group[i] == g] for g in set(group)}
    updates = [
        frozenset().union(*(plan[j].phase.updates for j in members[group[i]]))
        for i in range(len(plan))
    ]
    kept = data_alone(model)
    computed_at: dict = {}  # call -> index of the execution that computed it
    for i, ex in enumerate(plan):
        if ex.fresh == "batch":
            computed_at.clear()
        elif ex.fresh == "latents":
            computed_at = {c: j for c, j in computed_at.items() if c in kept}
        later_updates = (
            frozenset().union(*(e.phase.updates for e in plan[i:])) if plan else frozenset()
        )
        for action in ex.actions:
            deps = model.graph.dep_nets[action.call]
            if action.compute:
                assert not ex.simultaneous, "a simultaneous phase computes nothing of its own"
                computed_at[action.call] = i
                assert action.grad_nets <= deps
                assert action.grad_nets <= later_updates
                if deps & updates[i]:
                    assert action.grad_nets == deps & updates[i]
                continue
            assert action.call in computed_at, "reused before it was computed in this step"
            since = [
                e
                for j, e in enumerate(plan[computed_at[action.call] : i], computed_at[action.call])
                if group[j] != group[i]  # the own group steps after its last member
            ]
            stepped = frozenset().union(*(e.phase.updates for e in since))
            assert not deps & stepped, f"{action.call.text} reused after {deps & stepped} stepped"
            assert deps & ex.phase.updates <= action.grad_nets


SIMULTANEOUS = [{"repeat": 1, "every": 1, "fresh": "none", "simultaneous": True}] * 4
# narrower conv networks, the same graph and phases (the official widths are slow here)
NARROW = {
    "clustergan": [
        f"networks.{net}.{key}" for net in ("D", "E") for key in ("channels=[8, 16]", "fc=[32]")
    ]
    + ["networks.G.fc=[32]", "networks.G.channels=[16, 8]"]
}


@pytest.mark.parametrize("name", ("bigan", "aae", "clustergan"))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phases=st.lists(schedule(), min_size=4, max_size=4))
@example(phases=SIMULTANEOUS)
def test_frozen_networks_never_keep_gradients(name, phases):
    engine = tiny_engine(
        name, *overrides_for(name, phases), *NARROW.get(name, []), batch_size=8, limit=64
    )
    checked = []
    backward = PhaseStep.backward

    def frozen(phase: PhaseStep):
        return {
            f"{n}.{k}": p.grad
            for n, net in engine.networks.items()
            if n not in phase.phase.updates
            for k, p in net.named_parameters()
        }

    def checking(self: PhaseStep, total, *args, **kwargs) -> None:
        # this phase's backward pass leaves the frozen networks' gradients untouched
        # (also when it shares its forward with a simultaneous phase)
        before = {k: None if g is None else g.clone() for k, g in frozen(self).items()}
        backward(self, total, *args, **kwargs)
        for key, grad in frozen(self).items():
            old = before[key]
            assert (grad is None) == (old is None), (self.phase.name, key)
            assert grad is None or torch.equal(grad, old), (self.phase.name, key)
        checked.append(self.phase.name)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(PhaseStep, "backward", checking)
        for _ in range(3):
            engine.step()
    assert checked
