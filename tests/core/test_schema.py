"""`gan schema` validates every shipped spec (and rejects a broken one)."""

from __future__ import annotations

import json
import tomllib

import jsonschema
import pytest
from helpers import SPECS
from typer.testing import CliRunner

from gan.cli import app
from gan.core.spec import read_spec_data


@pytest.fixture(scope="module")
def schema() -> dict:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_spec_validates(schema, path):
    """A spec as the engine reads it: a file with `extends` holds only what differs from
    its base (partial tables), so the schema judges the merged result."""
    data = read_spec_data(path)
    assert "extends" not in data
    jsonschema.validate(data, schema)
    if "extends" not in tomllib.loads(path.read_text()):
        assert data == tomllib.loads(path.read_text())


def test_schema_catches_typos(schema):
    spec = tomllib.loads((SPECS / "bigan.toml").read_text())
    spec["networks"]["G"]["latent_dimm"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)
    spec = tomllib.loads((SPECS / "bigan.toml").read_text())
    spec["train"]["stepz"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(spec, schema)
