"""`gan schema` describes spec *files*: every file in specs/ validates as written
(``extends`` patches, ``${}`` references), and a wrong file still fails."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import jsonschema
import pytest
from helpers import SPECS, read_spec
from typer.testing import CliRunner

from gan.cli import app


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.Draft202012Validator, data: dict[str, Any]) -> list[str]:
    return [e.message for e in validator.iter_errors(data)]


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_spec_file_validates_as_written(validator, path):
    assert errors(validator, tomllib.loads(path.read_text())) == []


def test_extends_patches_and_references_validate(validator):
    """What the shipped files use, each alone: a table of phase patches, a partial
    component table without its `type`, a reference and a sum where numbers go."""
    patch = {
        "extends": "bigan",
        "phases": {"generator": {"repeat": 2, "optimizer": {"lr": 1e-3}}},
        "networks": {"G": {"latent_dim": "${train.batch_size}"}},
        "train": {"steps": "${train.batch_size} + 3", "batch_size": 8},
    }
    assert errors(validator, patch) == []
    full = read_spec("bigan")
    full["train"]["steps"] = "${train.batch_size}"
    assert errors(validator, full) == []


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("train", "stepz"), 3),  # a typo key
        (("train", "steps"), "many"),  # a string that is not a reference
        (("train", "steps"), "${train.batch_size} * 2"),  # not a sum
        (("train", "steps"), "${train batch}"),  # not a key
        (("networks", "G", "latent_dimm"), 3),  # a typo in a component's parameters
    ],
)
@pytest.mark.parametrize("extends", [False, True], ids=["full", "extends"])
def test_wrong_files_still_fail(validator, where, value, extends):
    data: dict[str, Any] = read_spec("bigan") if not extends else {"extends": "bigan"}
    table = data
    for key in where[:-1]:
        table = table.setdefault(key, {})
    table[where[-1]] = value
    assert errors(validator, data)


def test_phase_patches_need_extends_and_keep_their_keys(validator):
    """A table of phases is a patch of a base's phases: without `extends` there is no
    base; with it, a typo in a phase patch is still one."""
    full = read_spec("bigan")
    full["phases"] = {"generator": {"repeat": 2}}
    assert errors(validator, full)
    assert errors(validator, {"extends": "bigan", "phases": {"generator": {"repet": 2}}})
    bad_lr = {"extends": "bigan", "phases": {"generator": {"optimizer": {"lr": "fast"}}}}
    assert errors(validator, bad_lr)
