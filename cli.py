"""The `gan` command line.

Every command turns a user mistake (:class:`~gan.core.errors.GanError`) into one
paragraph on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from gan import __version__
from gan.core.errors import GanError

app = typer.Typer(
    name="gan",
    help="A declarative, plugin-based GAN framework: a TOML spec in, a trained GAN out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SpecArg = Annotated[str, typer.Argument(help="Spec file, or a shipped spec's short name (bigan).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a key: --set train.steps=50 (TOML value)."),
]


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def friendly(fn):
    """Run a command; print GanErrors as one paragraph with their exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GanError as exc:
            fail(str(exc), exc.exit_code)

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gan {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Train, inspect and extend GANs described by TOML specs."""


def _out_dir(name: str, out: Path | None, resume: bool, force: bool) -> Path:
    if out is not None:
        return out
    base = Path("runs") / name
    if resume or force or not base.exists():
        return base
    i = 2
    while (Path("runs") / f"{name}-{i}").exists():
        i += 1
    return Path("runs") / f"{name}-{i}"


@app.command()
@friendly
def run(
    spec: SpecArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder.")] = None,
    set_: SetOpt = None,
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing run folder.")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train a spec.

    Examples:

      gan run bigan --set data.source=digits --set train.steps=50

      gan run specs/bigan.toml --out runs/b --set data.root=../shared/data/mnist

      gan run bigan --out runs/b --resume
    """
    from gan.core.spec import load_spec
    from gan.core.trainer import Trainer

    overrides = list(set_ or [])
    if device:
        overrides.append(f"train.device={device}")
    loaded = load_spec(spec, overrides)
    folder = _out_dir(loaded.name, out, resume, force)
    trainer = Trainer(loaded, folder, resume=resume, force=force, quiet=quiet)
    step = trainer.run()
    typer.echo(f"done: {step} steps; run folder {folder}")


@app.command()
@friendly
def inspect(
    spec: SpecArg,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the resolved graph: networks (parameters, shapes), nodes, losses, phases."""
    from gan.core.describe import describe, render
    from gan.core.resolve import resolve
    from gan.core.spec import load_spec

    info = describe(resolve(load_spec(spec, list(set_ or []))))
    typer.echo(json.dumps(info, indent=2) if as_json else render(info))


@app.command()
@friendly
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List plugins, their components and each component's parameters."""
    from gan.core.registry import HOOK_KINDS, default_registry

    reg = default_registry()
    data: dict[str, dict] = {}
    for kind in HOOK_KINDS.values():
        for entry in reg.all(kind):
            plugin = data.setdefault(
                entry.plugin, {"origin": reg.origins.get(entry.plugin, "?"), "components": []}
            )
            comp = entry.component
            params = {
                name: {
                    "type": str(getattr(f.annotation, "__name__", f.annotation)),
                    "default": (
                        None if f.is_required() else repr(f.get_default(call_default_factory=True))
                    ),
                }
                for name, f in comp.params.model_fields.items()
            }
            plugin["components"].append(
                {"kind": comp.kind, "name": comp.name, "doc": comp.summary, "params": params}
            )
    if as_json:
        typer.echo(json.dumps({"plugins": data, "failures": reg.failures}, indent=2))
        return
    for name, plugin in data.items():
        typer.secho(f"{name}  ({plugin['origin']})", bold=True)
        for c in plugin["components"]:
            params = ", ".join(
                k + ("" if v["default"] is None else f"={v['default']}")
                for k, v in c["params"].items()
            )
            typer.echo(f"  {c['kind']:<12} {c['name']:<26} {params}")
    for name, why in reg.failures.items():
        typer.secho(f"warning: plugin '{name}' failed to load: {why}", fg="yellow", err=True)


@app.command()
@friendly
def init(
    name: Annotated[str, typer.Argument(help="Name of the new spec (and its file).")],
    from_: Annotated[str, typer.Option("--from", help="Shipped spec to start from.")] = "bigan",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write.")] = None,
) -> None:
    """Start a new spec from a shipped one.

    Example:

      gan init mygan --from clustergan && gan inspect mygan.toml
    """
    from gan.core.spec import find_spec_file

    source = find_spec_file(from_)
    target = out or Path(f"{name}.toml")
    if target.exists():
        fail(f"'{target}' already exists; choose another name or --out.")
    text = source.read_text()
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("name = "):
            lines[i] = f'name = "{name}"\n'
            break
    header = f"#:schema ./gan-spec.schema.json\n# Started from {source.name} by `gan init`.\n"
    target.write_text(header + "".join(lines))
    typer.echo(f"wrote {target} (from {source.name}); check it with: gan inspect {target}")


@app.command()
@friendly
def schema() -> None:
    """Print the JSON Schema of the spec (for editor validation and completion)."""
    from gan.core.schema import spec_schema

    typer.echo(json.dumps(spec_schema(), indent=2))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
