"""MNIST quality benchmark: train a model for a budget of *steps* per seed, select the
checkpoint on the validation split, report its figure once on the test split.

    python bench/quality.py --models InfoGAN --seeds 0 1 2
    python bench/quality.py --models CGAN-conv BiGAN
    python bench/quality.py --models InfoGAN --seeds 0 --reuse   # evaluate a finished run
    python bench/quality.py --models ClusterGAN ClusterGAN-twin --seeds 0 1 2
    python bench/quality.py --models ClusterGAN --seeds 0 --resume --max-minutes 160

Protocol (every record follows it):

1. ``gan run SPEC --set train.seed=S [--set train.steps=N]``: the spec holds out
   ``data.val`` training images; ``[eval] every`` evaluates on them during training and
   keeps ``checkpoints/best.safetensors`` by ``[eval] best``. The test split is never
   read during training.
2. ``gan eval RUN --best --set eval.split=test --json``: the selected checkpoint, once,
   on the 10,000 MNIST test images.
3. A record is *appended* to ``bench/results/quality.json`` (results are append-only:
   earlier records stay) with the spec, seed, steps, minutes, the load average at start
   and end, the commands and every metric; ``quality.md`` is regenerated from all
   records (each seed's figure and the median), with a learning-curve PNG per model
   (validation metric vs step, one line per seed).

A *twin* entry (``script``) runs an independent transcription of an official training
loop instead of ``gan run`` (``bench/reference/``): it writes its own validation curve
and the test figure of its validation-selected checkpoint, recorded like the others and
drawn beside the engine's curves in the engine entry's picture (``beside``). An entry
with ``step0`` also records the test figure of the untrained networks (the spec's
initialisation, saved as a checkpoint and evaluated by ``gan eval``).

A run longer than one sitting: ``--max-minutes M`` gives the invocation M minutes
(each run the minutes left when it starts) and stops the run going when they are spent,
with its state saved (``gan run`` gets SIGTERM and checkpoints the step it ends; a twin saves
its state file), and writes no record; ``--resume`` continues it in a later sitting
(``gan run --resume``; the twin's ``--resume``), and the run's record, once it has its
whole budget, sums the sittings' minutes and keeps each one's minutes and load
(``sittings``).

The models are listed in ``quality_entries.py``; ``quality.md`` is written by
``quality_report.py``.

Minutes are wall-clock on this machine and depend on what else ran: the load average is
recorded beside them. Hyper-parameters are the specs' (from the papers and official
code), never tuned on the test split.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from common import REPO, RESULTS, RUNS, add_data_root, recorded
from quality_entries import MODELS, PROTOCOL, SCRIPT_IGNORES, SCRIPT_OPTIONS, Entry
from quality_report import write_report
from records import append_json, read_json

from gan.training.runinfo import health_flags, read_run


def gan(*args: str, log: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "gan", *args]
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True, cwd=REPO)


def gan_sitting(*args: str, log: Path, run: Path, minutes: float) -> subprocess.CompletedProcess:
    """``gan run`` for at most ``minutes``, then SIGTERM: the trainer ends the step it
    is in (with that step's evaluation, if one was due), saves a checkpoint and stops,
    so that ``--resume`` goes on exactly as an uninterrupted run would (unlike
    ``train.max_minutes``, whose last step also evaluates and may be selected). The
    signal waits until the run has logged a step: one that arrived during start-up
    would end the process before it had anything to save."""
    cmd = [sys.executable, "-m", "gan", *args]
    metrics = run / "metrics.jsonl"
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}  # for {minutes} min\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=f, text=True, cwd=REPO)
        deadline = time.monotonic() + 60 * minutes
        while proc.poll() is None:
            stepping = metrics.is_file() and metrics.stat().st_size > 0
            if time.monotonic() > deadline and stepping:
                proc.send_signal(signal.SIGTERM)
                break
            time.sleep(0.2)
        stdout, _ = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, None)


def shown(args: list[str]) -> str:
    return "gan " + " ".join(f"'{a}'" if " " in a else a for a in args)


SITTINGS = "sittings.json"  # in a run folder: the sittings that trained it, so far


class Sitting:
    """One sitting of a run that may take several (``--max-minutes``, ``--resume``): its
    minutes and load are appended to the run's list of sittings, which a fresh run
    starts anew; the record, once the run is finished, sums them. The sitting is
    written down when it starts, so that one cut off before its end (the machine
    stopped) still shows, as minutes unknown, and the sum is said to be a lower bound;
    so does a run resumed with no list at all (started by an older script)."""

    def __init__(self, path: Path, resumed: bool) -> None:
        self.path = path
        self.done: list[dict] = []
        if resumed:
            unrecorded = [{"minutes": None, "to_step": None, "note": "not recorded"}]
            self.done = read_json(path) if path.is_file() else unrecorded
        self.entry: dict = {"date": time.strftime("%Y-%m-%d %H:%M"),
                            "load_start": list(os.getloadavg()), "minutes": None}  # fmt: skip
        self.start = time.perf_counter()
        self._write([*self.done, self.entry])

    def _write(self, sittings: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(sittings, indent=1) + "\n")

    def end(self, step: int) -> None:
        self.entry["minutes"] = round((time.perf_counter() - self.start) / 60, 1)
        self.entry["load_end"] = list(os.getloadavg())
        self.entry["to_step"] = step
        self.done.append(self.entry)
        self._write(self.done)

    def stopped(self, out: Path) -> dict:
        """No record yet: the run goes on in a later sitting."""
        return {"stopped": f"at step {self.entry['to_step']} after {self.entry['minutes']} "
                f"min; `--resume` continues {recorded(out)}"}  # fmt: skip

    def summary(self) -> dict:
        return summarize(self.done)


def summarize(sittings: list[dict]) -> dict:
    """Minutes and load of a whole run; every sitting's when there were several."""
    known = [s["minutes"] for s in sittings if s.get("minutes") is not None]
    summary: dict = {
        "minutes": round(sum(known), 1),
        "load_start": next((s["load_start"] for s in sittings if s.get("load_start")), None),
        "load_end": sittings[-1].get("load_end"),
    }
    if len(known) < len(sittings):
        summary["timing"] = "a lower bound: a sitting's minutes were not recorded"
    if len(sittings) > 1:
        summary["sittings"] = sittings
    return summary


RECORDED = "recorded.json"  # in a run folder: its record is in this store (--resume skips it)


def run_folder(entry: Entry, seed: int, args) -> Path:
    tag = f"_{args.variant}" if args.variant else ""
    return Path(args.runs) / f"{entry.key.lower()}{tag}_s{seed}"


def mark_recorded(folder: Path, store: Path) -> None:
    """Say in the run folder that its record is stored, so that a later ``--resume``
    knows a finished run with no mark as one whose sitting ended during its evaluation
    (it is evaluated and recorded then), and a marked one as done."""
    mark = {"store": recorded(store.absolute()), "date": time.strftime("%Y-%m-%d %H:%M")}
    (folder / RECORDED).write_text(json.dumps(mark) + "\n")


def run_seed(entry: Entry, seed: int, args) -> dict:
    out = run_folder(entry, seed, args)
    log = out.with_suffix(".log")
    mnist = Path(args.data_root)
    root = recorded(mnist if entry.source == "mnist" else mnist.parent / entry.source)
    sets = [f"data.root={root}", f"data.source={entry.source}", f"train.seed={seed}"]
    sets += entry.overrides + list(args.set or [])
    rel = recorded(out.absolute())  # `gan` runs from the repository root
    run_args = ["run", entry.spec, "--out", rel, "--force", "-q"]
    for s in sets:
        run_args += ["--set", s]
    record: dict = {
        "protocol": PROTOCOL,
        "model": entry.name,
        "spec": entry.spec,
        "seed": seed,
        "overrides": sets,
        "command": shown(run_args),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or torch.get_num_threads(),
        **({"variant": args.variant} if args.variant else {}),
        "date": time.strftime("%Y-%m-%d"),
    }
    reused = args.reuse and (out / "metrics.jsonl").is_file()
    resumed = args.resume and any((out / "checkpoints").glob("step_*.safetensors"))
    earlier = read_run(out) if resumed else None
    finished = earlier if earlier and earlier.status == "finished" else None
    if finished:
        if (out / RECORDED).is_file():
            return {"stopped": f"nothing to resume: {recorded(out)} is finished and recorded"}
        # its last sitting ended after training, before the record: evaluate it now
        record.update(summarize(read_json(out / SITTINGS) or [{"minutes": None}]))
    if not reused and not finished:
        if resumed:
            run_args[run_args.index("--force")] = "--resume"  # the record keeps the first
        else:
            log.unlink(missing_ok=True)
        sitting = Sitting(out / SITTINGS, resumed)
        if args.max_minutes:
            trained = gan_sitting(*run_args, log=log, run=out, minutes=args.max_minutes)
        else:
            trained = gan(*run_args, log=log)
        run = read_run(out) if (out / "metrics.jsonl").is_file() else None
        sitting.end(run.end_step if run else 0)
        if run and run.status == "interrupted":  # the sitting's time was up
            return sitting.stopped(out)
        if trained.returncode != 0 or run is None:
            record["error"] = f"gan run exited {trained.returncode}; see {recorded(log)}"
            return record
        record.update(sitting.summary())
    else:
        run = finished or read_run(out)
    train_lines, evals = run.train, run.evals
    if reused:
        # a run trained elsewhere with this command (e.g. a queued nohup job): its
        # minutes come from the run folder's own timestamps; the load was not seen here
        started = (out / "spec.toml").stat().st_mtime
        record["minutes"] = round((train_lines[-1]["time"] - started) / 60, 1)
        record["timing"] = "run folder timestamps (trained outside this script)"
    record["steps"] = run.last_step  # the last log line's, or the final evaluation's
    record["execution"] = run.execution  # precision, compile, graphs as the trainer chose
    # [eval.health]: the flags of the run's last evaluation, and when each first rose
    health = health_flags(out)
    record["flags"] = health.get("flags", {})
    if health.get("first"):
        record["flags_first"] = health["first"]
    record["curve"] = [{k: v for k, v in e.items() if k != "split"} for e in evals]
    eval_args = ["eval", rel, "--best", "--json", "--set", "eval.split=test"]
    record["eval_command"] = shown(eval_args)
    evaluated = gan(*eval_args, log=log)
    if evaluated.returncode != 0:
        record["error"] = f"gan eval exited {evaluated.returncode}; see {recorded(log)}"
        return record
    result = json.loads(evaluated.stdout)
    if entry.step0:
        record.update(untrained_figure(out, log))
    record["selected_step"] = result["step"]
    val_at = [c for c in record["curve"] if c["step"] == result["step"]]
    record["val_value"] = val_at[0].get(entry.metric) if val_at else None
    record["metrics"] = result["metrics"]
    record["value"] = result["metrics"].get(entry.metric)
    record["met"] = record["value"] is not None and record["value"] >= entry.target
    return record


def untrained_figure(run: Path, log: Path) -> dict:
    """The test figure of the run's networks as initialised (step 0): the run's own spec
    (spec.toml, every --set applied) builds the engine with its seed, the state is saved
    as ``checkpoints/untrained.safetensors`` and ``gan eval`` reads it like any other
    checkpoint (with the spec's [eval], e.g. BatchNorm statistics re-estimated)."""
    from gan.core.build import build_engine
    from gan.core.data import load_data
    from gan.core.spec import load_spec
    from gan.training.trainer import Trainer

    spec = load_spec(run / "spec.toml")
    trainer = Trainer(spec, run, quiet=True)
    engine = build_engine(trainer.model, torch.device("cpu"), load_data(trainer.model))
    path = trainer.save_checkpoint(engine, name="untrained.safetensors")
    eval_args = ["eval", str(path), "--json", "--set", "eval.split=test"]
    evaluated = gan(*eval_args, log=log)
    if evaluated.returncode != 0:
        return {"step0_error": f"gan eval exited {evaluated.returncode}; see {log}"}
    return {"step0_command": shown(eval_args), "step0": json.loads(evaluated.stdout)["metrics"]}


def script_options(entry: Entry, sets: list[str]) -> list[str]:
    """The engine's budget keys of ``--set`` as the twin's own options; a key that
    would change the engine's recipe alone is refused (before anything trains)."""
    options: list[str] = []
    for item in sets:
        key, _, value = item.partition("=")
        if key in SCRIPT_IGNORES or item == "data.source=mnist":
            continue
        if key not in SCRIPT_OPTIONS:
            raise SystemExit(
                f"--set {item}: the twin {entry.key} takes only {sorted(SCRIPT_OPTIONS)} "
                f"(and ignores {list(SCRIPT_IGNORES)}); run it in a command of its own"
            )
        options += [SCRIPT_OPTIONS[key], value]
    return options


def run_script_seed(entry: Entry, seed: int, args) -> dict:
    """A twin: the entry's script with its own CLI, on the same data, seed and budget."""
    assert entry.script is not None
    out = run_folder(entry, seed, args).with_suffix(".jsonl")  # a file, not a folder
    log = out.with_suffix(".log")
    options = [*entry.overrides, "--seed", str(seed), "--data", recorded(Path(args.data_root))]
    options += script_options(entry, args.set or [])
    cmd = [entry.script, *options, "--out", str(out)]
    record: dict = {
        "protocol": PROTOCOL,
        "model": entry.name,
        "spec": entry.script,
        "seed": seed,
        "overrides": options,
        "command": "python " + " ".join(cmd),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or torch.get_num_threads(),
        **({"variant": args.variant} if args.variant else {}),
        "date": time.strftime("%Y-%m-%d"),
    }
    resumed = args.resume and out.with_suffix(".state.safetensors").is_file()
    if resumed and '"final": true' in out.read_text():
        return {"stopped": f"nothing to resume: {recorded(out)} is finished (and recorded)"}
    sitting_args = (["--resume"] if resumed else []) + (
        ["--max-minutes", str(args.max_minutes)] if args.max_minutes else []
    )
    sitting = Sitting(out.with_suffix(".sittings.json"), resumed)
    with open(log, "a" if resumed else "w") as f:
        done = subprocess.run([sys.executable, *cmd, *sitting_args], stdout=f, stderr=f, cwd=REPO)
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
    final = lines[-1] if lines else {}
    sitting.end(final.get("step", final.get("steps", 0)))
    if done.returncode != 0 or not final:
        record["error"] = f"{entry.script} exited {done.returncode}; see {log}"
        return record
    if final.get("stopped"):
        return sitting.stopped(out)
    record.update(sitting.summary())
    record["curve"] = [
        {k: v for k, v in c.items() if k != "split"} for c in lines if c.get("split") == "val"
    ]
    record["steps"] = final["steps"]
    record["selected_step"] = final["selected_step"]
    record["val_value"] = final["val_selected"]
    record["metrics"] = final["test"]
    record["final_metrics"] = final["test_final"]
    record["value"] = final["test"].get(entry.metric)
    record["met"] = record["value"] is not None and record["value"] >= entry.target
    return record


MIN_SITTING = 2.0  # minutes: a run is not started with less of the sitting left


def sitting_shares(
    args: argparse.Namespace, runs: list[tuple[Entry, int]], clock=time.monotonic
) -> Iterator[tuple[Entry, int, argparse.Namespace | None]]:
    """Each run with the arguments it runs with. ``--max-minutes`` is the sitting's:
    each run gets the minutes left of it when it starts (a finished or quick run leaves
    its share to the next), and a later one reached with under ``MIN_SITTING`` left
    gets ``None``: it waits for the next sitting (the first always starts, however short
    the sitting asked for). So one command a core, with ``--resume``, goes on with a
    queue of runs in every sitting."""
    deadline = clock() + 60 * args.max_minutes if args.max_minutes else None
    for i, (entry, seed) in enumerate(runs):
        if deadline is None:
            yield entry, seed, args
            continue
        left = (deadline - clock()) / 60
        share = argparse.Namespace(**{**vars(args), "max_minutes": max(left, 1e-9)})
        yield entry, seed, share if i == 0 or left >= MIN_SITTING else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="e.g. InfoGAN CGAN-conv BiGAN")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    add_data_root(parser)
    parser.add_argument("--set", action="append", help="extra --set for gan run (all models)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--runs", default=str(RUNS / "quality"))
    parser.add_argument(
        "--reuse", action="store_true", help="evaluate existing run folders instead of training"
    )
    parser.add_argument("--report-only", action="store_true", help="rewrite quality.md only")
    parser.add_argument(
        "--max-minutes",
        type=float,
        help="this sitting's minutes: the run going when they are spent stops, resumable, "
        "with no record; runs not started wait for the next sitting (--resume)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue runs an earlier sitting stopped"
    )
    parser.add_argument(
        "--variant", default="", help="a name for a deviation given with --set (a row of its own)"
    )
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    store = out / "quality.json"
    records = read_json(store)
    known = {e.key for e in MODELS}
    unknown = set(args.models or []) - known
    if unknown:
        parser.error(f"unknown model(s) {sorted(unknown)}; choose from {sorted(known)}")
    chosen = [] if args.report_only else [e for e in MODELS if e.key in (args.models or [])]
    retired = [f"{e.key}: {e.retired}" for e in chosen if e.retired]
    if retired:
        parser.error("; ".join(retired))
    for entry in chosen:  # a twin refuses a recipe change up front
        if entry.script:
            script_options(entry, args.set or [])
    for entry, seed, run_args in sitting_shares(args, [(e, s) for e in chosen for s in args.seeds]):
        if run_args is None:
            print(f"== {entry.name} seed {seed}: not started, the sitting's minutes are spent")
            continue
        print(f"== {entry.name} seed {seed}", flush=True)
        runner = run_script_seed if entry.script else run_seed
        record = runner(entry, seed, run_args)
        if "stopped" in record:
            print(f"stopped {record['stopped']}", flush=True)
            continue
        records = append_json(store, record)
        if not entry.script and "error" not in record:  # a twin's mark is its final line
            mark_recorded(run_folder(entry, seed, run_args), store)
        brief = {k: v for k, v in record.items() if k not in ("metrics", "curve")}
        print(json.dumps(brief), flush=True)
        write_report(records, out / "quality.md")
    write_report(records, out / "quality.md")
    print(f"wrote {out / 'quality.md'}")


if __name__ == "__main__":
    main()
