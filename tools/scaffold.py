"""`gan init`: a starting point for a user's own GAN.

``gan init NAME --plugin`` writes an installable plugin package — a ``gan.plugins`` entry
point, one network and one loss registered through the hooks, a spec that uses them and
trains on the offline ``digits``, and a test built on :mod:`gan.testing` — from the
templates in ``tools/templates/plugin``. It passes its own test as written, so that a new
author starts from something that works and changes one piece at a time.

``gan init NAME --from SPEC`` writes a spec to edit: the shipped spec's keys with the name
set, a run length fit for a first try, and a header saying where to go next (the shipped
specs' comments tell their recipe's history and sources, which mean nothing in a new
spec); the JSON Schema its ``#:schema`` header points at is written beside it.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Any

from gan.core.errors import GanError

TEMPLATES = Path(__file__).resolve().parent / "templates" / "plugin"
PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
SCHEMA_FILE = "gan-spec.schema.json"
FIRST_STEPS = 2000  # a starter spec's run: minutes on a CPU, enough to see it learn


def plugin_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a plugin (it becomes a Python module ``gan_<name>`` and
    the prefix of its component types), or None."""
    if PLUGIN_NAME.fullmatch(name):
        return None
    return (
        "must be a lower-case Python identifier of at most 40 characters (letters, digits, "
        "_; a letter first), as it names the module gan_<name> and the components <name>.*"
    )


def plugin_files(name: str) -> dict[str, str]:
    """The package's files (relative path → text) for the plugin ``name``."""
    module = f"gan_{name}"
    values = {"name": name, "module": module}

    def fill(template: str) -> str:
        return string.Template((TEMPLATES / template).read_text()).substitute(values)

    return {
        "pyproject.toml": fill("pyproject.toml.tmpl"),
        "README.md": fill("README.md.tmpl"),
        f"src/{module}/__init__.py": fill("__init__.py.tmpl"),
        f"src/{module}/plugin.py": fill("plugin.py.tmpl"),
        f"src/{module}/specs/{name}.toml": fill("spec.toml.tmpl"),
        f"tests/test_{name}.py": fill("test_plugin.py.tmpl"),
        ".gitignore": "runs/\n*.egg-info/\n__pycache__/\n",
    }


def write_plugin(name: str, folder: Path) -> list[Path]:
    """Write the plugin package ``name`` into ``folder`` (which must not exist yet)."""
    problem = plugin_name_problem(name)
    if problem is not None:
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "mygan"
        if not suggestion[0].isalpha():
            suggestion = f"gan_{suggestion}"
        raise GanError(
            f"gan init --plugin {name!r:.60}: the name {problem}. "
            f"Try: gan init --plugin {suggestion[:40]}"
        )
    if folder.exists():
        raise GanError(f"'{folder}' already exists; choose another name or --out.")
    written = []
    try:
        for relative, text in plugin_files(name).items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    except OSError as exc:
        raise GanError(
            f"Cannot write '{folder}': {exc.strerror or exc}. Choose another --out."
        ) from None
    return written


def starter_spec(data: dict[str, Any], name: str, source: str) -> str:
    """The text of a new spec from a shipped spec's ``data``: its keys without the
    comments, named ``name``, and a run of :data:`FIRST_STEPS` steps where the shipped
    one trains for a paper's schedule (hundreds of epochs)."""
    import tomli_w

    spec = dict(data)
    spec["name"] = name
    train = dict(spec.get("train", {}))
    steps = train.get("steps")
    if not isinstance(steps, int) or steps > FIRST_STEPS:
        train.pop("epochs", None)
        train["steps"] = FIRST_STEPS
    spec["train"] = train
    every = spec.get("eval", {}).get("every")
    if isinstance(every, int) and every > train["steps"]:
        spec["eval"] = {k: v for k, v in spec["eval"].items() if k != "every"}
    header = (
        f"#:schema ./{SCHEMA_FILE}\n"
        f"# {name}: started from `{source}` by `gan init`. Check it with `gan inspect "
        f"{name}.toml`, train it\n# with `gan run {name}.toml` (add --set "
        f"data.source=digits to stay offline); `gan schema`\n# documents every key, and "
        f"`gan init --plugin NAME` starts a plugin of your own networks and losses.\n"
    )
    return header + tomli_w.dumps(spec)


def write_schema_beside(spec_file: Path) -> Path | None:
    """``gan-spec.schema.json`` beside ``spec_file`` (what its ``#:schema`` header points
    at, for editors' completion and validation); an existing one is left alone."""
    from gan.core.schema import spec_schema

    path = spec_file.parent / SCHEMA_FILE
    if path.exists():
        return None
    path.write_text(json.dumps(spec_schema(), indent=2) + "\n")
    return path
