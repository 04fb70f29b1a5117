"""Properties of the step plan (core/plan.py), over the shipped models' graphs and random
phase schedules (repeat, every, fresh_batch, the step):

* a node is never reused after a network it depends on has stepped, nor across a fresh
  draw of the data and latents;
* a node is computed with gradients for a network only when the phase computing it, or
  the later phase it is kept for, updates that network;
* in the engine, a phase's backward pass leaves the gradients of the networks it does
  not update untouched (frozen networks pass gradients through, never receive them).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
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
            "fresh_batch": st.booleans(),
        }
    )


def overrides_for(spec_name: str, phases: list[dict]) -> list[str]:
    names = [p.name for p in load_spec(spec_name).phases]
    out = []
    for name, p in zip(names, phases, strict=False):
        out += [f"phases.{name}.{k}={str(v).lower()}" for k, v in p.items()]
    return out


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
    plan = build_plan(model.graph, model.losses, active, leaf_calls)
    assert [(ex.phase.index, ex.repeat) for ex in plan] == [(p.index, r) for p, r in active]
    computed_at: dict = {}  # call -> index of the execution that computed it
    for i, ex in enumerate(plan):
        if ex.resample:
            computed_at.clear()
        later_updates = (
            frozenset().union(*(e.phase.updates for e in plan[i:])) if plan else frozenset()
        )
        for action in ex.actions:
            deps = model.graph.dep_nets[action.call]
            if action.compute:
                computed_at[action.call] = i
                assert action.grad_nets <= deps
                assert action.grad_nets <= later_updates
                if deps & ex.phase.updates:
                    assert action.grad_nets == deps & ex.phase.updates
                continue
            assert action.call in computed_at, "reused before it was computed in this step"
            since = plan[computed_at[action.call] : i]
            stepped = frozenset().union(*(e.phase.updates for e in since))
            assert not deps & stepped, f"{action.call.text} reused after {deps & stepped} stepped"
            assert deps & ex.phase.updates <= action.grad_nets


@pytest.mark.parametrize("name", ("bigan", "aae", "clustergan"))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phases=st.lists(schedule(), min_size=4, max_size=4))
def test_frozen_networks_never_keep_gradients(name, phases):
    engine = tiny_engine(name, *overrides_for(name, phases), batch_size=8, limit=64)
    checked = []
    before: dict = {}
    zero_grad, step = PhaseStep.zero_grad, PhaseStep.step

    def frozen(phase: PhaseStep):
        return {
            f"{n}.{k}": p.grad
            for n, net in engine.networks.items()
            if n not in phase.phase.updates
            for k, p in net.named_parameters()
        }

    def snapshot(self: PhaseStep) -> None:
        zero_grad(self)
        before.clear()
        before.update({k: None if g is None else g.clone() for k, g in frozen(self).items()})

    def checking(self: PhaseStep) -> None:
        # the backward pass of this phase left the frozen networks' gradients untouched
        for key, grad in frozen(self).items():
            old = before[key]
            assert (grad is None) == (old is None), (self.phase.name, key)
            assert grad is None or torch.equal(grad, old), (self.phase.name, key)
        checked.append(self.phase.name)
        step(self)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(PhaseStep, "zero_grad", snapshot)
        m.setattr(PhaseStep, "step", checking)
        for _ in range(3):
            engine.step()
    assert checked
