"""Spec reuse: `extends` deep-merges a base spec (tables merge, arrays replace, a component
table with a new `type` replaces the base's, a table patches the base's phases by name),
and `${table.key}` references (or sums of them) derive sizes from other entries instead
of hand-summed numbers."""

from __future__ import annotations

import pytest
from helpers import SPECS, assert_short_run_writes_checkpoint

from gan.core.errors import SpecError
from gan.core.spec import load_spec, spec_from_dict


def test_clustergan_mlp_is_a_short_variant_that_trains(tmp_path):
    assert len((SPECS / "clustergan_mlp.toml").read_text().splitlines()) < 40
    spec = load_spec("clustergan_mlp")
    base = load_spec("clustergan")
    assert spec.name == "clustergan_mlp"
    assert spec.networks["G"].type == "mlp" and spec.networks["G"].in_features == 40
    assert "latent_dim" not in spec.networks["E"].model_extra  # retyped: replaced, not merged
    assert spec.networks["E"].heads == [30, 10]
    assert spec.canonical()["graph"] == base.canonical()["graph"]
    assert spec.phases == base.phases and spec.train == base.train
    assert_short_run_writes_checkpoint("clustergan_mlp", tmp_path)
    assert "extends" not in (tmp_path / "run" / "spec.toml").read_text()  # the merged spec


def test_aae_clustering30_changes_only_the_number_of_clusters():
    spec, base = load_spec("aae_clustering30"), load_spec("aae_clustering")
    assert spec.samplers["c"].classes == 30 and base.samplers["c"].classes == 16
    for net in ("E", "Dec"):
        assert spec.networks[net].clusters == 30 and base.networks[net].clusters == 16
    assert spec.networks["D_y"].in_features == 30
    assert spec.graph["y_prior"] == "one_hot(c, 30)"
    assert spec.phases == base.phases and spec.train == base.train and spec.eval == base.eval


def test_extends_a_path_merges_tables_and_replaces_arrays(tmp_path):
    (tmp_path / "base.toml").write_text((SPECS / "bigan.toml").read_text())
    (tmp_path / "child.toml").write_text(
        'extends = "base.toml"\nname = "child"\n[networks.G]\nhidden = 64\n'
        '[[phases]]\nname = "discriminator"\nupdates = ["D"]\n'
        'optimizer = { type = "sgd", lr = 0.1 }\nlosses = { d_real = 1.0 }\n'
    )
    spec = load_spec(tmp_path / "child.toml")
    base = load_spec("bigan")
    assert spec.networks["G"].type == base.networks["G"].type  # merged into the base table
    assert spec.networks["G"].hidden == 64
    assert [p.name for p in spec.phases] == ["discriminator"]  # arrays replace


def test_a_table_patches_the_base_phases_by_name(tmp_path):
    (tmp_path / "child.toml").write_text(
        'extends = "bigan"\nname = "child"\n'
        "[phases.generator]\noptimizer = { lr = 1e-3 }\nlosses = { eg_real = 1.0 }\n"
    )
    spec, base = load_spec(tmp_path / "child.toml"), load_spec("bigan")
    assert [p.name for p in spec.phases] == [p.name for p in base.phases]  # order kept
    g, g0 = _phase(spec, "generator"), _phase(base, "generator")
    assert g.optimizer.lr == 1e-3 and g.optimizer.type == g0.optimizer.type
    assert g.optimizer.lr != g0.optimizer.lr
    assert g.losses == {**g0.losses, "eg_real": 1.0} != g0.losses  # merged, not replaced
    others = [p for p in spec.phases if p.name != "generator"]
    assert others == [p for p in base.phases if p.name != "generator"]


def test_a_phase_patch_with_another_optimizer_type_replaces_the_optimizer(tmp_path):
    (tmp_path / "child.toml").write_text(
        'extends = "bigan"\nname = "c"\n'
        '[phases.generator]\noptimizer = { type = "sgd", lr = 0.1, momentum = 0.9 }\n'
    )
    g = _phase(load_spec(tmp_path / "child.toml"), "generator")
    assert g.optimizer.type == "sgd" and g.optimizer.momentum == 0.9
    assert "betas" not in g.optimizer.model_dump()  # Adam's betas are not merged in


def test_the_fast_aae_recipes_differ_from_the_port_only_where_named():
    fast, port = load_spec("aae_clustering_fast"), load_spec("aae_clustering")
    for phase, phase0 in zip(fast.phases, port.phases, strict=True):
        assert phase.optimizer.lr == 1e-3 and phase0.optimizer.lr == 1e-4
        assert phase.optimizer.betas == phase0.optimizer.betas == [0.1, 0.999]
        assert phase.clip_grad_norm == phase0.clip_grad_norm == 5.0
    generator = _phase(port, "generator").losses
    assert _phase(fast, "generator").losses == {**generator, "balance": 1.0}
    balance = load_spec("aae_clustering_balance")  # the port + the balance term alone
    at_port_rate = [f"phases.{p.name}.optimizer.lr=1e-4" for p in fast.phases]
    same = load_spec("aae_clustering_fast", at_port_rate)  # quality.py's variant lr1e-4
    assert {**balance.canonical(), "name": "", "description": ""} == {
        **same.canonical(),
        "name": "",
        "description": "",
    }
    thirty = load_spec("aae_clustering30_fast")
    assert thirty.samplers["c"].classes == 30 and thirty.networks["E"].clusters == 30
    assert thirty.phases == fast.phases and thirty.losses == fast.losses


def _phase(spec, name):
    return next(p for p in spec.phases if p.name == name)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("[phases.generater]\nlosses = { g = 1.0 }\n", "Did you mean 'generator'"),
        ("[phases]\ngenerator = 3\n", "must be a table of keys to change"),
    ],
)
def test_a_bad_phase_patch_names_the_phase_and_the_fix(tmp_path, patch, message):
    (tmp_path / "child.toml").write_text(f'extends = "bigan"\nname = "c"\n{patch}')
    with pytest.raises(SpecError, match=message):
        load_spec(tmp_path / "child.toml")


def test_references_follow_overrides():
    spec = load_spec("clustergan", ["samplers.zn.dim=20"])
    assert spec.networks["G"].in_features == 30


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"${samplers.nope.dim}"', "has no 'samplers.nope.dim'"),
        ('"${samplers.zn.dim} * 2"', "a sum of references"),
        ('"${samplers.zn.std} + 1"', "only integers"),
    ],
)
def test_bad_references_name_the_key(value, message):
    with pytest.raises(SpecError, match=r"networks\.G\.in_features") as info:
        load_spec("clustergan", [f"networks.G.in_features={value}"])
    assert message in str(info.value)


def test_extends_cycles_and_unknown_bases_are_spec_errors(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\nname = "b"\n')
    with pytest.raises(SpecError, match="cycle"):
        load_spec(tmp_path / "a.toml")
    with pytest.raises(SpecError, match="Did you mean 'bigan'"):
        spec_from_dict({"extends": "bigam"})
