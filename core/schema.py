"""JSON Schema of the spec, including every registered component's parameters, so that
editors (taplo / Even Better TOML with ``#:schema``) can validate and complete specs."""

from __future__ import annotations

from typing import Any

from gan.core.components import Loss, Network, Optimizer, Sampler
from gan.core.registry import Registry, default_registry
from gan.core.spec import Spec
from gan.core.spec_load import SUM

# A value may be written as a reference to another entry of the spec, or a sum of
# references and integers (core/spec_load.py's ``interpolate``): the same grammar, so a
# string the loader would refuse is refused by an editor too.
REFERENCE = {
    "type": "string",
    "pattern": rf"^(?=.*\$\{{)(?:{SUM.pattern})$",
    "description": 'A reference, e.g. "${samplers.zn.dim}" or "${a.b} + ${c.d}".',
}
SCALARS = {"number", "integer", "boolean"}
PATCH = "Patch"  # suffix of the $defs that describe a table of a file with `extends`


def _with_references(schema: Any) -> Any:
    """``schema``, with a reference string allowed wherever a value (or an array item)
    goes."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("anyOf", "oneOf"):
        if key in out:
            out[key] = [_with_references(s) for s in out[key]]
    if "items" in out:
        out["items"] = {"anyOf": [_with_references(out["items"]), REFERENCE]}
    return out


def _component_schema(
    kind, registry: Registry, defs: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    variants = []
    for entry in registry.all(kind):
        comp = entry.component
        schema = comp.params.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        props: dict[str, Any] = {"type": {"const": comp.name, "description": comp.summary}}
        props.update(
            {
                k: {"anyOf": [_with_references(v), REFERENCE]}
                for k, v in schema.get("properties", {}).items()
            }
        )
        props.update(extra or {})
        variants.append(
            {
                "type": "object",
                "title": comp.name,
                "properties": props,
                "required": ["type", *schema.get("required", [])],
                "additionalProperties": False,
            }
        )
    return {"oneOf": variants} if variants else {"type": "object"}


def _properties(defs: dict[str, Any], model: str, *keys: str) -> dict[str, Any]:
    """The schema of ``keys`` in the pydantic model ``model``'s definition."""
    props = defs.get(model, {}).get("properties", {})
    return {k: props[k] for k in keys if k in props}


def spec_schema(registry: Registry | None = None) -> dict[str, Any]:
    registry = registry or default_registry()
    schema = Spec.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    props = schema["properties"]
    engine_keys = {  # the keys the engine reads beside a component's own parameters
        Network: _properties(defs, "NetworkSpec", "init"),
        Sampler: _properties(defs, "SamplerSpec", "follows"),
    }
    for key, kind in (("networks", Network), ("samplers", Sampler), ("losses", Loss)):
        extra = engine_keys.get(kind)
        props[key] = {
            "type": "object",
            "additionalProperties": _component_schema(kind, registry, defs, extra),
        }
    props["extends"] = {
        "type": "string",
        "description": "A base spec (shipped short name or path) merged under this one.",
    }
    phase = defs["PhaseSpec"]
    phase["properties"]["optimizer"] = _component_schema(Optimizer, registry, defs)
    return _file_schema(_scalar_references(schema))


def _file_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The schema of a spec *file*: a file with ``extends`` holds only what differs from
    its base (core/spec_load.py's ``merge``), so it is judged by the patch schema: every
    table partial (no key required, a component's ``type`` included) and ``phases``
    also a table of phase patches by name (``[phases.generator]``); a file without it
    is also judged by the whole spec's schema. Unknown keys stay errors in both."""
    defs = spec.pop("$defs", {})
    full = {k: spec.pop(k) for k in ("type", "properties", "additionalProperties", "required")}
    full = {k: v for k, v in full.items() if v is not None}
    patch = _patch(full)
    patch["properties"]["phases"] = {
        "anyOf": [
            full["properties"]["phases"],  # an array replaces the base's phases
            {"type": "object", "additionalProperties": {"$ref": f"#/$defs/PhaseSpec{PATCH}"}},
        ]
    }
    defs.update({f"{name}{PATCH}": _patch(d) for name, d in list(defs.items())})
    # The patch schema is the looser one and sits on top (what editors complete from);
    # a file without `extends` must also be a whole spec.
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "gan spec",
        "description": spec.get("description", ""),
        "$defs": defs,
        **patch,
        "if": {"required": ["extends"]},
        "else": full,
    }


def _patch(schema: Any) -> Any:
    """``schema`` with nothing required, alternatives that may overlap (``anyOf``: a
    partial component table matches every type that has its keys) and references to
    the patch definitions. An array's items stay whole: an array replaces the base's."""
    if isinstance(schema, list):
        return [_patch(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "required":
            continue
        if key in ("items", "prefixItems", "const", "enum", "default", "examples"):
            out[key] = value
        elif key == "$ref" and isinstance(value, str):
            out[key] = value + PATCH
        elif key == "oneOf":
            out["anyOf"] = _patch(value)
        elif key in ("properties", "patternProperties", "$defs"):
            out[key] = {k: _patch(v) for k, v in value.items()}
        else:
            out[key] = _patch(value)
    return out


def _scalar_references(schema: Any) -> Any:
    """``schema`` with a reference allowed wherever a number, an integer or a boolean is:
    ``interpolate`` resolves ``"${…}"`` in every table of the spec, not only in a
    component's parameters."""
    if isinstance(schema, list):
        return [_scalar_references(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "$defs"):
            out[key] = {k: _scalar_references(v) for k, v in value.items()}
        elif key in ("const", "enum", "default", "examples"):
            out[key] = value
        else:
            out[key] = _scalar_references(value)
    kinds = out.get("type")
    kinds = (
        {kinds}
        if isinstance(kinds, str)
        else set(kinds or ())
        if isinstance(kinds, list)
        else set()
    )
    if kinds & SCALARS and "string" not in kinds:
        return {"anyOf": [out, REFERENCE]}
    return out
