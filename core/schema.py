"""JSON Schema of the spec, including every registered component's parameters, so that
editors (taplo / Even Better TOML with ``#:schema``) can validate and complete specs."""

from __future__ import annotations

from typing import Any

from gan.core.components import Loss, Network, Optimizer, Sampler
from gan.core.registry import Registry, default_registry
from gan.core.spec import Spec


def _component_schema(kind, registry: Registry, defs: dict[str, Any]) -> dict[str, Any]:
    variants = []
    for entry in registry.all(kind):
        comp = entry.component
        schema = comp.params.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        props = {"type": {"const": comp.name, "description": comp.summary}}
        props.update(schema.get("properties", {}))
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
    for key, kind in (("networks", Network), ("samplers", Sampler), ("losses", Loss)):
        props[key] = {
            "type": "object",
            "additionalProperties": _component_schema(kind, registry, defs),
        }
    phase = defs["PhaseSpec"]
    phase["properties"]["optimizer"] = _component_schema(Optimizer, registry, defs)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "gan spec"
    return schema
