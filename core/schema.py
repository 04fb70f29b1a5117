"""JSON Schema of the spec, including every registered component's parameters, so that
editors (taplo / Even Better TOML with ``#:schema``) can validate and complete specs."""

from __future__ import annotations

from typing import Any

from gan.core.components import Loss, Network, Optimizer, Sampler
from gan.core.registry import Registry, default_registry
from gan.core.spec import Spec

# A parameter may be written as a reference to another entry of the spec (core/spec.py).
REFERENCE = {
    "type": "string",
    "pattern": r"^\s*\$\{",
    "description": 'A reference, e.g. "${samplers.zn.dim}" or "${a.b} + ${c.d}".',
}


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


def spec_schema(registry: Registry | None = None) -> dict[str, Any]:
    registry = registry or default_registry()
    schema = Spec.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.setdefault("$defs", {})
    props = schema["properties"]
    network = defs.get("NetworkSpec", {}).get("properties", {})
    engine_keys = {k: network[k] for k in ("init",) if k in network}
    for key, kind in (("networks", Network), ("samplers", Sampler), ("losses", Loss)):
        extra = engine_keys if kind is Network else None
        props[key] = {
            "type": "object",
            "additionalProperties": _component_schema(kind, registry, defs, extra),
        }
    props["extends"] = {
        "type": "string",
        "description": "A base spec (shipped short name or path) merged under this one.",
    }
    # a spec that extends another may leave out what the base has
    required = schema.pop("required", [])
    schema["if"] = {"required": ["extends"]}
    schema["else"] = {"required": required}
    phase = defs["PhaseSpec"]
    phase["properties"]["optimizer"] = _component_schema(Optimizer, registry, defs)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "gan spec"
    return schema
