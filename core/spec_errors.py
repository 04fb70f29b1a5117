"""A spec's validation errors as text a user can act on: one line per problem with the
dotted key (phases addressed by name), the value, what is wrong and, for an unknown key,
a did-you-mean and the valid keys there."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from gan.core.errors import did_you_mean
from gan.core.spec_models import Spec


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut short for error messages."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list) and len(value) > 8:
        return f"a list of {len(value)} items"
    try:
        text = repr(value)
    except RecursionError:  # pragma: no cover - depth is checked before
        text = f"a nested {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_validation_error(
    exc: ValidationError, source: str, data: Any, before: Any = None
) -> str:
    """One paragraph per problem: the dotted key, the value, what is wrong, the fix.
    ``before`` is the data as it was before ``--set`` overrides: a table that only an
    override created is then reported as a misspelt name, not as a missing ``type``."""
    lines = []
    for err in exc.errors()[:8]:
        loc = list(err["loc"])
        key = _dotted(loc, data)
        created = _created_by_override(loc, before) if err["type"] == "missing" else None
        if created is not None:
            lines.append(created)
        elif err["type"] == "extra_forbidden":
            parent = _model_at(Spec, loc[:-1])
            choices = list(parent.model_fields) if parent else []
            hint = did_you_mean(str(loc[-1]), choices)
            valid = f" Valid keys here: {', '.join(choices)}." if choices else ""
            lines.append(f"{key}: unknown key.{hint}{valid}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key is missing. Add it to the spec.")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{key} = {shown(err.get('input'))}: {msg}.")
    more = len(exc.errors()) - 8
    if more > 0:
        lines.append(f"… and {more} more problem(s).")
    return f"{source} is not a valid spec:\n  " + "\n  ".join(lines)


def _created_by_override(loc: list[Any], before: Any) -> str | None:
    """For ``networks.Gx.type`` missing where ``networks.Gx`` came only from a --set: the
    names the spec does have, a did-you-mean, and how to add a new one on purpose."""
    if before is None or len(loc) < 3 or loc[-1] != "type" or not isinstance(loc[-2], str):
        return None
    table: Any = before
    for item in loc[:-2]:
        if not isinstance(table, dict) or item not in table:
            return None
        table = table[item]
    if not isinstance(table, dict) or loc[-2] in table:
        return None
    where = ".".join(str(p) for p in loc[:-2])
    name = loc[-2]
    names = [str(k) for k in table]
    has = f"its {where}: {', '.join(names)}" if names else f"it has no {where}"
    return (
        f"{where}.{name}: --set names an entry the spec does not have ({has})."
        f"{did_you_mean(name, names)} To add a new one, also set its type: "
        f"--set {where}.{name}.type=…"
    )


def _dotted(loc: list[Any], data: Any) -> str:
    """``["phases", 0, "every"]`` → ``phases[0:'discriminator'].every``."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            item_node = node[item] if isinstance(node, list) and item < len(node) else None
            name = item_node.get("name") if isinstance(item_node, dict) else None
            parts[-1] += f"[{item}]" if not isinstance(name, str) else f"['{name}']"
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def _model_at(model: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    """The pydantic model class found by following ``loc`` from ``model``."""
    current: Any = model
    for item in loc:
        if isinstance(item, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(item))
        if field is None:
            return None
        ann = field.annotation
        for _ in range(3):  # unwrap list[X] / dict[str, X] / X | None
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                break
            if not args:
                break
            ann = args[-1]
        current = ann
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None
