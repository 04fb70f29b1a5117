"""Engine semantics: gradients only where a phase updates, node reuse, schedules."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from gan.core.errors import SpecError
from gan.core.graph import parse_call
from gan.testing import observe_sources, tiny_engine


def test_parse_call_tuple_outputs_and_constants():
    call = parse_call("zn_hat, zc_logits", "E(x_fake)")
    assert call.outputs == ("zn_hat", "zc_logits") and call.func == "E"
    assert parse_call("c", "one_hot(k, 10)").args == ("k", 10)
    assert parse_call("z", "aae.reparam(mu, eps)").func == "aae.reparam"
    for bad in ("G(z) + 1", "G(z=z)", "f()()", "lambda: 1", "G(z)[0]", "G(z.real)"):
        with pytest.raises(SpecError):
            parse_call("n", bad)


# these tests read the alternating plan of bigan's two phases (its official recipe steps
# them simultaneously: tests/core/test_simultaneous.py)
ALTERNATING = "phases.generator.simultaneous=false"


def count_forwards(engine) -> Counter:
    counts: Counter = Counter()
    for name, net in engine.networks.items():
        net.register_forward_hook(lambda m, a, o, name=name: counts.update([name]))
    return counts


def test_each_node_computed_once_until_its_network_steps():
    engine = tiny_engine("bigan", ALTERNATING)
    counts = count_forwards(engine)
    engine.step()
    # G(z) and E(x): once per step (reused by the generator phase).
    # D: twice per phase (it is stepped in between, so recomputed).
    assert counts == Counter({"G": 1, "E": 1, "D": 4})


def test_frozen_networks_get_no_gradients_but_pass_them_through():
    engine = tiny_engine("bigan", ALTERNATING)
    seen = {}

    def spy(phase_name):
        def hook(optimizer, args, kwargs):
            seen[phase_name] = {
                name: [None if p.grad is None else p.grad.clone() for p in net.parameters()]
                for name, net in engine.networks.items()
            }

        return hook

    for name, opt in engine.optimizers.items():
        opt.register_step_pre_hook(spy(name))
    engine.step()
    d_phase, g_phase = seen["discriminator"], seen["generator"]
    assert all(g is not None for g in d_phase["D"])
    assert all(g is None for g in d_phase["G"] + d_phase["E"])
    assert all(g is not None for g in g_phase["G"] + g_phase["E"])
    # the generator phase back-propagated through D without adding to D's gradients
    for before, after in zip(d_phase["D"], g_phase["D"], strict=True):
        assert torch.equal(before, after)


def test_nodes_without_gradient_need_are_computed_without_graph():
    engine = tiny_engine("bigan", ALTERNATING, "phases.generator.every=2")
    engine.step_count = 1  # discriminator phase only: nothing is kept for later phases
    plan = engine.plan()
    grads = {a.call.key: a.grad_nets for a in plan[0].actions}
    assert grads["x_fake"] == frozenset() and grads["z_enc, e_feat, e_logits"] == frozenset()
    assert grads["d_real"] == {"D"}


def test_every_and_repeat_schedule():
    engine = tiny_engine(
        "bigan",
        ALTERNATING,
        "phases.discriminator.repeat=3",
        "phases.discriminator.fresh_batch=true",
        "phases.generator.every=2",
    )
    names = [(ex.phase.name, ex.repeat, ex.resample) for ex in engine.plan(step=0)]
    assert names == [
        ("discriminator", 0, False),
        ("discriminator", 1, True),
        ("discriminator", 2, True),
        ("generator", 0, False),
    ]
    assert [ex.phase.name for ex in engine.plan(step=1)] == ["discriminator"] * 3
    with observe_sources(engine) as draws:
        engine.step()
    assert len(draws) == 3  # one per critic repetition


def test_phase_start_delays_a_phase():
    engine = tiny_engine(
        "aae_clustering", "phases.regularisation.start=3", "phases.generator.start=3"
    )
    names = [p.name for p in engine.model.phases]
    early = [ex.phase.name for ex in engine.plan(step=2)]
    late = [ex.phase.name for ex in engine.plan(step=3)]
    assert early == [names[0]] and late == names
    losses = engine.step().losses
    assert all(k.startswith(f"{names[0]}/") for k in losses)


def test_a_spec_where_no_phase_starts_at_zero_is_refused():
    with pytest.raises(SpecError, match="at least one phase start at step 0"):
        tiny_engine(
            "bigan", ALTERNATING, "phases.discriminator.start=1", "phases.generator.start=2"
        )


def test_loss_values_are_returned_without_host_sync():
    engine = tiny_engine("bigan")
    losses = engine.step().losses
    assert set(losses) == {
        "discriminator/d_real",
        "discriminator/d_fake",
        "generator/eg_real",
        "generator/eg_fake",
    }
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in losses.values())


def test_nan_stops_with_phase_and_term(tmp_path):
    from gan.core.errors import TrainingError
    from gan.core.spec import load_spec
    from gan.training.trainer import Trainer

    spec = load_spec(
        "bigan",
        [
            "data.source=digits",
            "train.batch_size=16",
            "train.steps=4",
            "train.log_every=2",
            "train.checkpoint_every=2",
            "phases.discriminator.optimizer.lr=1e30",
        ],
    )
    trainer = Trainer(spec, tmp_path / "run", quiet=True)
    with pytest.raises(TrainingError, match="phase") as info:
        trainer.run()
    assert "became" in str(info.value)


def test_absurd_network_is_refused_before_allocation():
    with pytest.raises(SpecError, match="max_parameters"):
        tiny_engine("bigan", "networks.G.hidden=1000000")
