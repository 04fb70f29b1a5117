"""From a spec file's data to a validated :class:`~gan.core.spec_models.Spec`.

In order: ``extends`` merges the base spec under this one, ``--set`` overrides change
keys (phases addressed by index or name), ``"${table.key}"`` references (and sums of
them) are replaced by the values they name, then pydantic validates the structure; any
problem is a :class:`~gan.core.errors.SpecError` naming the key at fault.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gan.core.errors import SpecError, did_you_mean
from gan.core.limits import MAX_INT_DIGITS
from gan.core.spec_errors import format_validation_error, shown
from gan.core.spec_models import Spec
from gan.core.spec_read import (
    SPECS_DIR,
    check_depth,
    find_spec_file,
    parse_toml,
    read_spec_bytes,
    too_deep,
)


def load_spec(name_or_path: str | Path, overrides: list[str] | None = None) -> Spec:
    """Read, override and validate a spec file. Raises :class:`SpecError`."""
    path = find_spec_file(name_or_path)
    data = read_spec_data(path)
    return spec_from_dict(data, overrides, source=str(path), folder=path.parent)


def spec_from_dict(
    data: dict[str, Any],
    overrides: list[str] | None = None,
    source: str = "spec",
    folder: Path | None = None,
) -> Spec:
    base = extend(data, folder, source=source)
    data = apply_overrides(base, list(overrides or []))
    check_depth(data, source if not overrides else f"{source} (with --set)")
    data = interpolate(data)
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        if overrides and _valid(base):  # the spec alone is fine: the --set made it wrong
            shown_set = " ".join(f"--set {o}" for o in overrides)
            source = f"{source} with {shown_set[:200]}"
        raise SpecError(
            format_validation_error(exc, source, data, base if overrides else None)
        ) from None


def _valid(data: dict[str, Any]) -> bool:
    try:
        Spec.model_validate(interpolate(data))
    except (ValidationError, SpecError):
        return False
    return True


def read_spec_data(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A spec file as plain data, with its ``extends`` chain merged in."""
    raw = read_spec_bytes(path)
    data = parse_toml(raw, f"Spec file '{path}'")
    return extend(data, path.parent, (*seen, path.resolve()), str(path))


MAX_EXTENDS = 8  # a chain of bases longer than this is a mistake


def extend(
    data: dict[str, Any], folder: Path | None, seen: tuple[Path, ...] = (), source: str = "spec"
) -> dict[str, Any]:
    """``extends = "base"``: the base spec (a shipped short name, or a path relative to
    the extending file) deep-merged under ``data``. Tables merge key by key, everything
    else (arrays included) replaces; a component table (``[networks.G]`` …) whose
    ``type`` changes replaces the base's table instead of merging with it. A table given
    where the base has an array of named tables (``[phases.generator]`` against the
    base's ``[[phases]]``) patches those items by name, as ``--set phases.NAME.key=…``
    does, so a variant that changes one phase need not restate the others."""
    if "extends" not in data:
        return data
    data = dict(data)
    base_name = data.pop("extends")
    if not isinstance(base_name, str) or not base_name:
        raise SpecError(f"{source}: extends = {shown(base_name)} must name a spec (e.g. 'bigan').")
    path = _base_path(base_name, folder, source)
    if path.resolve() in seen:
        chain = " → ".join(str(p) for p in (*seen, path.resolve()))
        raise SpecError(f"{source}: extends = '{base_name}' makes a cycle: {chain}.")
    if len(seen) > MAX_EXTENDS:
        raise SpecError(f"{source}: more than {MAX_EXTENDS} specs extend each other.")
    return merge(read_spec_data(path, seen), data, source)


def _base_path(base_name: str, folder: Path | None, source: str) -> Path:
    """Where ``extends = base_name`` points: a path relative to the extending file's
    folder (never the current folder, which would make the spec mean something else
    when run from elsewhere), an absolute path, or a shipped spec's short name."""
    candidate = Path(base_name).expanduser()
    if candidate.is_absolute():
        looked = [candidate]
    elif folder is not None:
        looked = [folder / candidate]
    else:
        looked = []
    for path in looked:
        if path.exists():
            return path  # a folder or a device: read_spec_bytes says what is wrong
    if len(candidate.parts) == 1 and candidate.suffix in ("", ".toml"):
        shipped = SPECS_DIR / f"{candidate.stem}.toml"
        if shipped.is_file():
            return shipped
        looked.append(shipped)
    names = sorted(p.stem for p in SPECS_DIR.glob("*.toml"))
    where = " nor ".join(f"'{p}'" for p in looked) or "nowhere (no spec file to be relative to)"
    raise SpecError(
        f"{source}: extends = {shown(base_name)} was not found: looked for {where}."
        f"{did_you_mean(candidate.stem, names)} Give a path relative to the extending "
        f"spec's folder, or a shipped spec's short name: {', '.join(names)}."
    )


def merge(base: Any, over: Any, source: str = "spec", where: str = "") -> Any:
    """``over`` deep-merged onto ``base`` (see :func:`extend`)."""
    if isinstance(base, list) and isinstance(over, dict) and _named_items(base):
        return _patch_by_name(base, over, source, where)
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        retyped = (
            isinstance(value, dict)
            and "type" in value
            and value["type"] != (old.get("type") if isinstance(old, dict) else None)
        )
        path = f"{where}.{key}" if where else str(key)
        out[key] = value if retyped else merge(old, value, source, path) if key in out else value
    return out


def _named_items(items: list[Any]) -> bool:
    return bool(items) and all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in items
    )


def _patch_by_name(
    items: list[dict[str, Any]], patches: dict[str, Any], source: str, where: str
) -> list[Any]:
    """The base's named items with ``patches[name]`` merged into each; the order and
    the items not named are the base's. A name the base lacks is an error: a new item
    has no place in the order, so the whole array must be spelled out instead."""
    names = [item["name"] for item in items]
    out = list(items)
    for name, patch in patches.items():
        if name not in names:
            raise SpecError(
                f"{source}: [{where}.{name}] patches an item of the base's {where}, which has "
                f"{', '.join(names)}.{did_you_mean(str(name), names)} To add or reorder items, "
                f"write the whole array ([[{where}]] …) instead."
            )
        if not isinstance(patch, dict):
            raise SpecError(
                f"{source}: {where}.{name} = {shown(patch)} must be a table of keys to change, "
                f"e.g. [{where}.{name}] with lr = 1e-3 under it."
            )
        i = names.index(name)
        out[i] = merge(out[i], patch, source, f"{where}.{name}")
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.steps=50"`` → (["train", "steps"], 50). Values are TOML literals;
    anything that is not a TOML literal is taken as a plain string (so the shell's
    quote-stripping of ``data.source="digits"`` does not matter)."""
    if "=" not in item:
        raise SpecError(
            f"--set '{item}' has no '='. Write --set KEY=VALUE, e.g. --set train.steps=50."
        )
    key, raw = item.split("=", 1)
    keys = [k.strip() for k in key.strip().split(".")]
    if not all(keys):
        raise SpecError(f"--set '{item}': the key '{key}' has an empty part.")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise SpecError(too_deep(f"--set {key.strip()}=…")) from None
    return keys, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """The raw spec with dotted keys set (a copy: ``data`` is left as it was, so a caller
    can still tell the spec's own faults from those of its overrides). Phases may be
    addressed by index or by name."""
    if not overrides:
        return data
    data = copy.deepcopy(data)
    for item in overrides:
        keys, value = parse_override(item)
        node: Any = data
        for i, key in enumerate(keys[:-1]):
            path = ".".join(keys[: i + 1])
            if isinstance(node, list):
                node = _list_item(node, key, path)
            else:
                if not isinstance(node, dict):
                    raise SpecError(f"--set {item}: '{path}' is not a table.")
                node = node.setdefault(key, {})
        last = keys[-1]
        if isinstance(node, list):
            raise SpecError(f"--set {item}: cannot replace a whole list item; set its keys.")
        if not isinstance(node, dict):
            raise SpecError(f"--set {item}: '{'.'.join(keys[:-1])}' is not a table.")
        node[last] = value
    return data


def _list_item(items: list[Any], key: str, path: str) -> Any:
    if key.isdigit() and int(key) < len(items):
        return items[int(key)]
    for item in items:
        if isinstance(item, dict) and item.get("name") == key:
            return item
    names = [str(i.get("name")) for i in items if isinstance(i, dict)]
    raise SpecError(
        f"--set: '{path}' matches no item; use an index (0..{len(items) - 1}) or a name: "
        f"{', '.join(names)}.{did_you_mean(key, names)}"
    )


REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
SUM = re.compile(r"\s*(\$\{[A-Za-z0-9_.-]+\}|\d+)(\s*\+\s*(\$\{[A-Za-z0-9_.-]+\}|\d+))*\s*")


def interpolate(data: Any, root: dict[str, Any] | None = None, where: str = "") -> Any:
    """Replace ``"${samplers.zn.dim}"`` by that value of the spec, and
    ``"${samplers.zn.dim} + ${samplers.zc_idx.classes}"`` by the sum: sizes that follow
    from other entries are written once."""
    root = data if root is None else root
    if isinstance(data, dict):
        return {k: interpolate(v, root, f"{where}{k}.") for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, root, f"{where}{i}.") for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data
    key = where[:-1]
    if not SUM.fullmatch(data):
        raise SpecError(
            f'{key} = "{shown(data)}": a reference is "${{table.key}}" alone or a sum of '
            f'references and integers, e.g. "${{samplers.zn.dim}} + ${{samplers.zc.classes}}".'
        )
    parts = [p.strip() for p in data.split("+")]
    values = []
    for part in parts:
        m = REFERENCE.fullmatch(part)
        if m is None:
            if len(part) > MAX_INT_DIGITS:  # beyond any size; and int() has a digit limit
                raise SpecError(
                    f'{key} = "{shown(data)}": the integer {shown(part, 24)} has '
                    f"{len(part)} digits; a term of a sum has at most {MAX_INT_DIGITS}."
                )
            values.append(int(part))
            continue
        value: Any = root
        for name in m.group(1).split("."):
            if not isinstance(value, dict) or name not in value:
                raise SpecError(
                    f"{key} = \"{shown(data)}\": the spec has no '{shown(m.group(1))[1:-1]}'. "
                    f"Only keys written in the spec (or its extends base) resolve, not "
                    f"defaults: write the value there, or the number itself here."
                )
            value = value[name]
        if isinstance(value, str) and "${" in value:
            raise SpecError(f"{key} = \"{shown(data)}\": '{m.group(1)}' is itself a reference.")
        values.append(value)
    if len(values) == 1:
        return values[0]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise SpecError(
            f'{key} = "{shown(data)}": only integers can be summed, got {shown(values)}.'
        )
    return sum(values)
