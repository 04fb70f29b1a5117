"""The `gan` command line.

Every command turns a user mistake (:class:`~gan.core.errors.GanError`) into one
paragraph on stderr and exit code 2 — a traceback only with ``gan --traceback …`` or
``GAN_DEBUG=1``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
import traceback
from inspect import getdoc
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


_SHOW_TRACEBACK = False  # --traceback (or GAN_DEBUG=1): the full chain for any error


def show_traceback() -> bool:
    return _SHOW_TRACEBACK or os.environ.get("GAN_DEBUG", "") not in ("", "0")


def friendly(fn):
    """Run a command; print GanErrors as one paragraph with their exit code (with
    ``--traceback`` or ``GAN_DEBUG=1``: after the full traceback, causes included)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GanError as exc:
            if getattr(exc, "shown_by_rank_0", False):  # torchrun: printed once, by rank 0
                raise typer.Exit(exc.exit_code) from None
            if show_traceback():
                traceback.print_exception(exc, file=sys.stderr)
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
    traceback_: Annotated[
        bool,
        typer.Option(
            "--traceback", help="On an error, print the full traceback (also GAN_DEBUG=1)."
        ),
    ] = False,
) -> None:
    """Train, inspect and extend GANs described by TOML specs."""
    global _SHOW_TRACEBACK
    _SHOW_TRACEBACK = traceback_


def _out_dir(name: str, out: Path | None, resume: bool, force: bool) -> Path:
    if out is not None:
        return out  # the user's explicit choice
    from gan.core.errors import SpecError
    from gan.core.spec import name_problem

    problem = name_problem(name)  # checked when the spec loads; never trusted here
    if problem is not None:
        raise SpecError(f"name = {name!r:.80}: {problem}.")
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
    nproc: Annotated[
        int | None,
        typer.Option(min=1, help="Train in N processes on this machine (starts torchrun)."),
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option(help="Train these seeds in this process (0-7 or 0,2,5): OUT/seed_K/."),
    ] = None,
) -> None:
    """Train a spec (also under torchrun: docs/distributed.md).

    Examples:

      gan run bigan --set data.source=digits --set train.steps=50

      gan run specs/bigan.toml --out runs/b --set data.root=../shared/data/mnist

      gan run bigan --out runs/b --resume

      gan run bigan --nproc 2 --set data.source=digits

      gan run aae --seeds 0-7 --set data.source=digits
    """
    from gan.core.limits import max_processes
    from gan.core.resolve import resolve
    from gan.core.spec import load_spec
    from gan.training import distributed
    from gan.training.trainer import Trainer

    if nproc is not None and nproc > (most := max_processes()):
        fail(
            f"--nproc {str(nproc)[:40]}: this machine can run at most {most} training processes "
            f"(one per CPU core, or per GPU). Give --nproc {most} or fewer."
        )
    overrides = list(set_ or [])
    if device:
        overrides.append(f"train.device={device}")
    if seeds is not None:
        from gan.training.replicas import parse_seeds

        overrides.append(f"train.seeds={parse_seeds(seeds)}")
    loaded = load_spec(spec, overrides)
    if loaded.train.seeds is not None:
        if nproc is not None and nproc > 1:
            fail("--seeds trains many seeds in one process; it does not combine with --nproc.")
        from gan.training.replicas import Replicas

        folder = _out_dir(loaded.name, out, resume, force)
        step = Replicas(loaded, folder, resume=resume, force=force, quiet=quiet).run()
        typer.echo(f"done: {step} steps; seed folders {folder}/seed_*")
        return
    if nproc is not None and nproc > 1:
        resolve(loaded)  # a spec error is reported here once, not by every process
        folder = _out_dir(loaded.name, out, resume, force)  # one folder for all processes
        args = ["run", spec, "--out", str(folder)]
        for item in set_ or []:
            args += ["--set", item]
        flags = {"--resume": resume, "--force": force, "--quiet": quiet}
        args += [flag for flag, on in flags.items() if on]
        args += ["--device", device] if device else []
        raise typer.Exit(distributed.launch(nproc, args))
    with distributed.session(loaded.train.device) as ctx:
        # under torchrun rank 0 picks the folder (runs/NAME-2 …) for every rank
        folder = ctx.on_main(lambda: _out_dir(loaded.name, out, resume, force))
        if ctx.is_main and not quiet:
            typer.echo(_folder_line(loaded.name, out, folder), err=True)
        started = time.monotonic()
        step = Trainer(loaded, folder, resume=resume, force=force, quiet=quiet, dist=ctx).run()
    if ctx.is_main:
        split = loaded.eval.split if loaded.eval.metrics else None
        typer.echo(_summary(step, time.monotonic() - started, folder, split))


def _folder_line(name: str, out: Path | None, folder: Path) -> str:
    """Said before training starts: where the run goes, and why when it is not
    runs/NAME (a second `gan run NAME` must not pass silently into runs/NAME-2)."""
    base = Path("runs") / name
    if out is None and folder != base:
        return f"run folder {folder} ({base} exists; --resume continues it, --force overwrites it)"
    return f"run folder {folder}"


def _summary(step: int, seconds: float, folder: Path, split: str | None) -> str:
    """The last lines of a run: how long it took, where it is, what to do next."""
    from gan.training.progress import format_duration

    best = (folder / "checkpoints" / "best.safetensors").is_file()
    lines = [f"done: {step} steps in {format_duration(seconds)}; run folder {folder}", "next:"]
    lines.append(f"  gan report {folder}      # curves, samples, graph: {folder}/report.html")
    if split is not None:  # the spec declares metrics
        which = "the best checkpoint's" if best else "the last checkpoint's"
        lines.append(
            f"  gan eval {folder}{' --best' if best else ''}   # {which} metrics, {split} split"
        )
    lines.append(f"  gan sample {folder} --out samples.png")
    return "\n".join(lines)


@app.command()
@friendly
def inspect(
    spec: SpecArg,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (= --format json).")] = False,
    format_: Annotated[
        str,
        typer.Option("--format", "-f", help="text, json, dot (Graphviz) or mermaid."),
    ] = "text",
) -> None:
    """Show the resolved graph: networks (parameters, shapes), nodes, losses, phases.

    Examples:

      gan inspect bigan --format dot | dot -Tsvg > bigan.svg

      gan inspect clustergan --format mermaid
    """
    from gan.core.resolve import resolve
    from gan.core.spec import load_spec
    from gan.tools import graphview
    from gan.tools.inspect import describe, render

    writers = {
        "text": render,
        "json": lambda info: json.dumps(info, indent=2),
        "dot": graphview.to_dot,
        "mermaid": graphview.to_mermaid,
    }
    fmt = "json" if as_json else format_
    if fmt not in writers:
        fail(f"--format {fmt!r:.40}: choose one of {', '.join(writers)}.")
    info = describe(resolve(load_spec(spec, list(set_ or []))))
    typer.echo(writers[fmt](info).rstrip("\n"))


@app.command()
@friendly
def bench(
    spec: SpecArg,
    steps: Annotated[int, typer.Option(min=1, help="Timed steps.")] = 50,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed steps first.")] = 3,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time training steps of a spec: steps/s and where the time goes (data, forward,
    backward, optimizer), the precision and compile mode used and why. Nothing is written.

    Examples:

      gan bench cgan --steps 100 --set data.root=../shared/data/mnist

      gan bench cgan --set train.compile=true   # compile seconds and recompiles, apart

      gan bench infogan --set train.precision=auto   # bf16 where the CPU has it
    """
    from gan.core.spec import load_spec
    from gan.tools.bench import make_engine, render, time_steps

    loaded = load_spec(spec, list(set_ or []))
    engine = make_engine(loaded)
    result = time_steps(engine, steps, warmup)
    if as_json:
        typer.echo(json.dumps({"spec": loaded.name, **result.as_dict()}, indent=2))
    else:
        typer.echo(render(loaded.name, result, engine.device))


RunArg = Annotated[str, typer.Argument(help="Run folder or .safetensors checkpoint.")]
BestOpt = Annotated[bool, typer.Option("--best", help="Use the run's best.safetensors.")]
DeviceOpt = Annotated[str, typer.Option(help="cpu, cuda or auto.")]


@app.command("eval")
@friendly
def eval_(
    run_or_checkpoint: RunArg,
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    best: BestOpt = False,
    device: DeviceOpt = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Compute the spec's [eval] metrics for a checkpoint.

    Examples:

      gan eval runs/clustergan

      gan eval runs/cgan/checkpoints/step_00010000.safetensors --json

      gan eval runs/bigan --set eval.limit=2000 --json
    """
    from gan.evaluation.evaluate import Evaluation, run_metrics
    from gan.training.restore import data_loader, restore

    engine, file = restore(run_or_checkpoint, list(set_ or []), device, best)
    if not engine.model.metrics:
        raise GanError(
            f"The spec of '{file}' declares no metrics. Add an [eval.metrics.NAME] table "
            f"(see `gan schema` or specs/*.toml), or pass them with --set "
            f"eval.metrics.NAME.type=... --set eval.metrics.NAME.node=..."
        )
    results = run_metrics(Evaluation(engine, data_loader(engine), quiet=quiet or as_json))
    raised = _health_flags(engine, file, results)
    if as_json:
        payload = {"checkpoint": str(file), "step": engine.step_count, "metrics": results}
        if engine.model.spec.eval.health:
            payload["flags"] = raised
        typer.echo(json.dumps(payload, indent=2))
        return
    typer.echo(f"{file} (step {engine.step_count}, {engine.model.spec.eval.split} split)")
    width = max(len(k) for k in results)
    for key, value in results.items():
        typer.echo(f"  {key:<{width}}  {value:.4f}")
    for name, reason in raised.items():
        typer.echo(f"  FLAG {name}: {reason}")


def _health_flags(engine, file: Path, results: dict[str, float]) -> dict[str, str]:
    """``[eval.health]`` flags of this evaluation, with the training logs and earlier
    evaluations of the checkpoint's run folder where there is one (read, not written)."""
    from gan.evaluation import health

    rules = engine.model.spec.eval.health
    if not rules:
        return {}
    folder = file.parent.parent if file.parent.name == "checkpoints" else file.parent
    evals, logs = health.run_history(folder)
    evals = [e for e in evals if e.get("step", -1) < engine.step_count]
    return health.flags(rules, [*evals, {"step": engine.step_count, **results}], logs)


@app.command()
@friendly
def sample(
    run_or_checkpoint: RunArg,
    n: Annotated[int, typer.Option("-n", help="Samples in the main grid.")] = 100,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file of the main grid.")] = Path(
        "samples.png"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the latent draws.")] = 0,
    set_: SetOpt = None,
    best: BestOpt = False,
    device: DeviceOpt = "cpu",
) -> None:
    """Draw sample grids from a checkpoint: one row per class/cluster where the spec's
    [sample] sets `rows`, code traversals (`traverse`), reconstructions
    (`reconstruction`). Extra grids go beside --out with a suffix.
    """
    from gan.evaluation.sampling import all_grids, save_grid
    from gan.training.restore import data_loader, restore

    engine, file = restore(run_or_checkpoint, list(set_ or []), device, best)
    spec = engine.model.spec
    if spec.sample.node is None:
        raise GanError(
            f"The spec of '{file}' has no [sample] node. Pass one, e.g. --set sample.node=x_fake."
        )
    if not 1 <= n <= 4096:
        raise GanError(f"-n {n}: give a number of samples between 1 and 4096.")
    if out.name in ("", ".", ".."):
        raise GanError(f"--out '{out}' is not a file name. Give a PNG file, e.g. --out grid.png.")
    images, labels = data_loader(engine)(spec.eval.split)
    out = out.with_suffix(".png")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for grid in all_grids(engine, images, labels, n, seed):
            path = out.with_name(f"{out.stem}{grid.suffix}.png")
            save_grid(grid, path, (spec.data.range[0], spec.data.range[1]))
            typer.echo(f"wrote {path}" + (f": {grid.caption}" if grid.caption else ""))
    except OSError as exc:
        raise GanError(
            f"Cannot write '{out}': {exc.strerror or exc}. Choose another --out."
        ) from None


@app.command()
@friendly
def report(
    run_folder: Annotated[str, typer.Argument(help="Run folder written by `gan run`.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file (default RUN/report.html).")
    ] = None,
) -> None:
    """Write one self-contained HTML page about a run: facts, loss and eval curves, the
    graph as a picture, the phase plan, sample grids over time and the spec. It opens
    from disk, with no server and no network; a run in progress works too.

    Example:

      gan report runs/bigan --out bigan.html
    """
    from gan.tools.report import write_report

    typer.echo(f"wrote {write_report(run_folder, out)}")


@app.command()
@friendly
def compare(
    runs: Annotated[list[str], typer.Argument(help="Run folders (seeds of a spec are pooled).")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Metric to show (glob: 'probe/*'); default all."),
    ] = None,
    at: Annotated[str, typer.Option(help="best (the eval that chose best) or last.")] = "best",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
) -> None:
    """One table of metrics across runs: runs that differ only in train.seed are pooled
    as mean ± std (and each value); the spec keys that differ between groups are named.

    Examples:

      gan compare runs/bigan-s0 runs/bigan-s1 runs/bigan-lr

      gan compare runs/* -m 'probe/*' --markdown
    """
    from gan.tools.compare import compare as compare_runs
    from gan.tools.compare import render_markdown, render_text

    result = compare_runs(runs, metric, at)
    for warning in result["warnings"]:
        typer.secho(f"warning: {warning}", fg="yellow", err=True)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    else:
        typer.echo(render_markdown(result) if markdown else render_text(result))


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
            shown = ", ".join(
                k + ("" if v["default"] is None else f"={v['default']}")
                for k, v in c["params"].items()
            )
            typer.echo(f"  {c['kind']:<12} {c['name']:<26} {shown}")
    for name, why in reg.failures.items():
        typer.secho(f"warning: plugin '{name}' failed to load: {why}", fg="yellow", err=True)


@app.command()
@friendly
def init(
    name: Annotated[str, typer.Argument(help="Name of the new spec (and its file).")],
    from_: Annotated[str, typer.Option("--from", help="Shipped spec to start from.")] = "bigan",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File (folder with --plugin) to write.")
    ] = None,
    plugin: Annotated[
        bool,
        typer.Option(
            "--plugin",
            help="Write an installable plugin package (a network, a loss, a spec, a test) "
            "into gan-plugin-NAME/ instead of a spec.",
        ),
    ] = False,
) -> None:
    """Start a new spec from a shipped one, or a plugin package of your own.

    Examples:

      gan init mygan --from clustergan && gan inspect mygan.toml

      gan init --plugin mygan && pip install -e gan-plugin-mygan
    """
    from gan.core.spec import find_spec_file, name_reason, parse_toml, read_spec_bytes, safe_name
    from gan.tools import scaffold

    if plugin:
        folder = out or Path(f"gan-plugin-{name}")
        scaffold.write_plugin(name, folder)
        module = f"gan_{name}"
        typer.echo(
            f"wrote {folder}/ (plugin '{name}': src/{module}/plugin.py, its spec and a "
            f"test). Next:\n  pip install -e {folder}\n"
            f"  gan run {folder}/src/{module}/specs/{name}.toml\n"
            f"  (cd {folder} && python -m pytest -q)"
        )
        return

    reason = name_reason(name)  # it becomes the spec's name, and so a run folder
    if reason is not None:
        fail(
            f"gan init {name!r:.80}: the name {reason}, because it becomes the spec's name "
            f"and its run folder runs/<name>. Try: gan init {safe_name(name)}"
        )
    source = find_spec_file(from_)
    target = out or Path(f"{name}.toml")
    if target.exists():
        fail(f"'{target}' already exists; choose another name or --out.")
    raw = read_spec_bytes(source)
    data = parse_toml(raw, f"Spec file '{source}'")  # --from must be a spec: fail first
    if "extends" in data:  # a path relative to the shipped spec: write what it resolves to
        from gan.core.spec import load_spec

        data = load_spec(source).canonical()
    try:
        target.write_text(scaffold.starter_spec(data, name, source.stem))
        scaffold.write_schema_beside(target)  # what the spec's #:schema header points at
    except OSError as exc:
        fail(f"Cannot write '{target}': {exc.strerror or exc}. Choose another --out.")
    typer.echo(f"wrote {target} (from {source.name}); check it with: gan inspect {target}")


@app.command()
@friendly
def schema() -> None:
    """Print the JSON Schema of the spec (for editor validation and completion)."""
    from gan.core.schema import spec_schema

    typer.echo(json.dumps(spec_schema(), indent=2))


def _escape_markup(text: str) -> str:
    """Help text shown literally: typer renders help through rich, whose markup would
    swallow words in brackets (``[eval]``, ``[sample]``) as unknown style tags. The same
    rule as ``rich.markup.escape``, without importing rich for every command."""
    return re.sub(r"(\\*)(\[[a-z#/@][^[]*?])", lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)


def _unwrap(text: str) -> str:
    """Prose paragraphs as one line each, so help reflows to the terminal's width instead
    of keeping the docstring's breaks (jagged at 80 columns); indented lines (examples)
    keep theirs."""
    paragraphs = text.split("\n\n")
    return "\n\n".join(
        p if any(line.startswith(" ") for line in p.splitlines()) else " ".join(p.split("\n"))
        for p in paragraphs
    )


def _escape_help(typer_app: typer.Typer) -> None:
    for info in typer_app.registered_commands:
        doc = info.help or getdoc(info.callback)
        if doc:
            info.help = _escape_markup(_unwrap(doc))


_escape_help(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
