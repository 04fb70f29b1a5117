"""Bad specs give one clear message naming the key (exit code 2, no traceback)."""

from __future__ import annotations

import copy

import pytest
import tomli_w
from helpers import read_spec
from typer.testing import CliRunner

from gan.cli import app

runner = CliRunner()


def inspect(tmp_path, spec: dict | str, *args: str):
    path = tmp_path / "spec.toml"
    path.write_text(spec if isinstance(spec, str) else tomli_w.dumps(spec))
    return runner.invoke(app, ["inspect", str(path), *args])


def mutated(fn) -> dict:
    spec = copy.deepcopy(read_spec("bigan"))
    fn(spec)
    return spec


def assert_clean_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.output, result.output


CASES = {
    "unknown key": (
        lambda s: s["train"].update(stepz=5),
        ["train.stepz", "unknown key", "Did you mean 'steps'"],
    ),
    "wrong type": (lambda s: s["train"].update(steps="many"), ["train.steps", "'many'"]),
    "negative size": (lambda s: s["train"].update(batch_size=-3), ["train.batch_size", "-3"]),
    "unknown component": (
        lambda s: s["networks"]["G"].update(type="bigan.generatr"),
        ["networks.G.type", "bigan.generatr", "Did you mean 'bigan.generator'"],
    ),
    "unknown component parameter": (
        lambda s: s["networks"]["G"].update(latent_dimm=50),
        ["networks.G.latent_dimm", "Did you mean 'latent_dim'"],
    ),
    "wrong component parameter type": (
        lambda s: s["samplers"]["z"].update(dim="fifty"),
        ["samplers.z.dim", "'fifty'"],
    ),
    "unknown node": (
        lambda s: s["graph"].update(d_real="D(x, z_encc)"),
        ["graph.d_real", "unknown node 'z_encc'", "Did you mean 'z_enc'"],
    ),
    "cycle": (
        lambda s: s["graph"].update(a="G(b)", b="E(a)"),
        ["cycle"],
    ),
    "unknown network in phase": (
        lambda s: s["phases"][0].update(updates=["DD"]),
        ["phases['discriminator'].updates", "'DD'", "Did you mean 'D'"],
    ),
    "loss on unknown node": (
        lambda s: s["losses"]["d_real"].update(input="d_rael"),
        ["losses.d_real.input", "d_rael", "Did you mean 'd_real'"],
    ),
    "unknown loss term in phase": (
        lambda s: s["phases"][1]["losses"].update(eg_fak=1.0),
        ["phases['generator'].losses", "eg_fak"],
    ),
    "eval in expression": (
        lambda s: s["graph"].update(x_fake="__import__('os').system('true')"),
        ["graph.x_fake"],
    ),
    "nested call": (
        lambda s: s["graph"].update(d_fake="D(G(z), z)"),
        ["graph.d_fake", "nested calls"],
    ),
    "constant where an op expects a tensor": (
        lambda s: s["graph"].update(x_cat="cat(x_fake, 0)"),
        ["graph.x_cat", "op 'cat' failed"],
    ),
    "huge layer": (
        lambda s: s["networks"]["G"].update(hidden=10**12),
        ["networks.G.hidden"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_spec_is_one_clear_error(tmp_path, case):
    mutate, fragments = CASES[case]
    assert_clean_error(inspect(tmp_path, mutated(mutate)), *fragments)


def test_invalid_toml(tmp_path):
    assert_clean_error(inspect(tmp_path, "name = 'x'\n[train\n"), "not valid TOML")


def test_non_utf8(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_bytes(b"name = '\xff\xfe'\n")
    assert_clean_error(runner.invoke(app, ["inspect", str(path)]), "UTF-8")


def test_missing_file(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope.toml")])
    assert_clean_error(result, "does not exist")


def test_short_name_typo():
    assert_clean_error(runner.invoke(app, ["inspect", "bigna"]), "Did you mean 'bigan'")


def test_bad_override(tmp_path):
    result = runner.invoke(app, ["inspect", "bigan", "--set", "train.steps"])
    assert_clean_error(result, "--set", "KEY=VALUE")
    result = runner.invoke(app, ["inspect", "bigan", "--set", "phases.critic.repeat=2"])
    assert_clean_error(result, "phases.critic", "discriminator")


def test_override_of_a_misspelt_entry_names_the_real_ones():
    """--set networks.Gx.… creates a table without a type; the message names the
    spec's networks and a did-you-mean instead of asking for the missing type."""
    result = runner.invoke(app, ["inspect", "bigan", "--set", "networks.Gx.lr=3"])
    assert_clean_error(result, "networks.Gx", "does not have", "Did you mean 'G'", ".type=")
    assert "required key is missing" not in result.output
    # Adding an entry on purpose still works when its type is given.
    result = runner.invoke(
        app,
        ["inspect", "bigan", "--set", "losses.extra.type=mse", "--set", "losses.extra.input=x"],
    )
    assert "does not have" not in result.output


def test_overrides_apply():
    from gan.core.spec import load_spec

    spec = load_spec(
        "bigan",
        [
            "train.steps=7",
            "data.source=digits",
            "phases.generator.simultaneous=false",  # a simultaneous phase shares `every`
            "phases.generator.every=3",
        ],
    )
    assert spec.train.steps == 7
    assert spec.data.source == "digits"
    assert spec.phases[1].every == 3


@pytest.mark.parametrize(
    ("sets", "fragment"),
    [
        (["samplers.z.low=1", "samplers.z.high=-1"], "samplers.z: low = 1.0 must be below high"),
        (["samplers.z.low=-inf"], "samplers.z.low = -inf: Input should be a finite number"),
        (["samplers.z.high=nan"], "samplers.z.high = nan: Input should be a finite number"),
        (["networks.D.negative_slope=inf"], "networks.D.negative_slope = inf: Input should be a"),
    ],
)
def test_component_parameters_are_finite_and_sampler_bounds_ordered(sets, fragment):
    """Reversed or infinite bounds, or an infinite slope, would train on reversed ranges
    or NaN values silently; every component's numbers are finite, as the spec's are."""
    args = [item for s in sets for item in ("--set", s)]
    assert_clean_error(runner.invoke(app, ["inspect", "infogan", *args]), fragment)
