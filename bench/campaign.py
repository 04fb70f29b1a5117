"""One command for a GPU window: every model's official recipe × K seeds, trained as one
run per model (``gan run --seeds``: vectorised, whole-step CUDA graphs where they work)
within a wall-clock budget, each seed's validation-selected checkpoint evaluated once on
the test split.

    python bench/campaign.py --minutes 8 --seeds 4 --device cuda --data ../shared/data/mnist
    python bench/campaign.py --smoke --out /tmp/c          # digits, 2 seeds, 2 steps, CPU
    python bench/campaign.py --speed --seeds 1 4 8          # aggregate steps/s, this machine

Training (default):

* the budget (``--minutes``) is shared between the models, each model's run getting
  ``train.max_minutes`` = its share less a margin for its evaluation;
* one record per seed is *appended* to ``quality.json`` in bench/quality.py's format
  (bench/records.py's store, :func:`quality.gan`), with the device,
  the seeds trained together, the steps, minutes and the test figures of the checkpoint
  chosen on the validation split; records go out as each model finishes, so a window
  cut short keeps what was done;
* the run's aggregate rate (seeds × steps per second) goes to ``speed_gpu.json``
  (``campaign``), with the form the run chose (vectorised or seed by seed, graphed or
  eager) as its console said.
* a *twin* (quality.py's ``script`` entries, e.g. ``ClusterGAN-twin``: an official
  loop in plain PyTorch, one seed per process) runs its K seeds as K processes at once
  on the device, beside the engine's runs and for the whole budget; a seed still
  training when it runs out stops with its state saved (resumable, no record).

    python bench/campaign.py --models ClusterGAN ClusterGAN-twin --seeds 3 --minutes 8

``--speed``: aggregate steps/s of K = 1, 4, 8 … seeds per model, vectorised and seed by
seed, in interleaved windows (bench/measure.py), written into ``speed.json`` (``seeds``)
and a section of ``speed.md``; with the form ``train.vectorize = "auto"`` picked here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import measure
import quality
import torch
from common import REPO, RESULTS, RUNS, add_data_root, recorded
from quality_entries import MODELS, PROTOCOL, Entry
from records import append_json

# the official recipes, each once (quality.py's keys)
DEFAULT_MODELS = ["ClusterGAN", "AAE", "InfoGAN", "CGAN-conv", "BiGAN", "CGAN"]
SPEED_MODELS = ("bigan", "clustergan", "infogan", "aae", "cgan")
EVAL_MARGIN = 0.25  # of each model's share: its test evaluations and start-up
SECTION = "<!-- seeds: bench/campaign.py --speed -->"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=None, help="quality.py keys (training)")
    p.add_argument("--seeds", nargs="*", type=int, default=None, help="K (training: one)")
    p.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget, all models")
    p.add_argument("--device", default="auto")
    add_data_root(p)
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--runs", default=str(RUNS / "campaign"))
    p.add_argument("--set", action="append", default=[], help="extra --set (all models)")
    p.add_argument("--smoke", action="store_true", help="digits, 2 seeds, a few steps")
    p.add_argument("--speed", action="store_true", help="aggregate steps/s of K seeds")
    p.add_argument("--seconds", type=float, default=2.0, help="--speed: seconds per window")
    p.add_argument("--repeats", type=int, default=3, help="--speed: windows per form")
    return p.parse_args(argv)


# -- training ---------------------------------------------------------------------------


def _without(overrides: list[str], key: str) -> list[str]:
    return [o for o in overrides if not o.startswith(f"{key}=")]


def _choices(log: Path) -> list[str]:
    """The run's own lines about how it stepped (form, graph, precision)."""
    if not log.is_file():
        return []
    keep = re.compile(r"seeds (vectorised|seed by seed)|cuda graph|CUDA graph|precision ")
    return [line for line in log.read_text(errors="replace").splitlines() if keep.search(line)]


def _execution(folder: Path) -> dict:
    """How the run stepped, as its run.json records it (form, graph, precision)."""
    try:
        sessions = json.loads((folder / "run.json").read_text()).get("sessions") or [{}]
    except (OSError, ValueError):
        return {}
    execution = sessions[-1].get("execution", {})
    return execution if isinstance(execution, dict) else {}


def train_model(entry: Entry, k: int, minutes: float, args: argparse.Namespace) -> list:
    """One model's K seeds as one run; one record per seed (quality.py's format)."""
    out = Path(args.runs) / entry.key.lower()
    out.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    log.unlink(missing_ok=True)
    mnist = Path(args.data_root)
    root = recorded(mnist if entry.source == "mnist" else mnist.parent / entry.source)
    source = "digits" if args.smoke else entry.source
    sets = [f"data.root={root}", f"data.source={source}", f"train.device={args.device}"]
    sets += _without(entry.overrides, "train.max_minutes")
    sets += [f"train.max_minutes={minutes:.3g}", "train.cuda_graph=auto", *args.set]
    rel = recorded(out.absolute())  # `gan` runs from the repository root
    run_args = ["run", entry.spec, "--seeds", f"0-{k - 1}", "--out", rel, "--force"]
    for s in sets:
        run_args += ["--set", s]
    common = {
        "protocol": PROTOCOL,
        "model": entry.name,
        "spec": entry.spec,
        "overrides": sets,
        "command": quality.shown(run_args),
        "campaign": {"seeds_together": k, "budget_minutes": round(minutes, 2)},
        "device": _device_name(args.device),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "load_start": list(os.getloadavg()),
    }
    start = time.perf_counter()
    trained = quality.gan(*run_args, log=log)
    common["minutes"] = round((time.perf_counter() - start) / 60, 2)
    common["load_end"] = list(os.getloadavg())
    common["campaign"]["choices"] = _choices(log)
    common["campaign"]["execution"] = _execution(out / "seed_0")
    records = []
    for seed in range(k):
        record = {**common, "seed": seed}
        if trained.returncode != 0:
            record["error"] = f"gan run exited {trained.returncode}; see {recorded(log)}"
        else:
            evaluate_seed(entry, out / f"seed_{seed}", record, log)
        records.append(record)
    return records


def twin_sets(entry: Entry, args: argparse.Namespace) -> list[str]:
    """The ``--set`` items a twin gets: the device, the user's own (a key the twin
    cannot take is refused here, before anything trains, as ``quality.py`` does) and,
    for a smoke, its budget (the smoke's other settings are the engine's)."""
    sets = [f"train.device={args.device}", *args.set]
    quality.script_options(entry, sets)  # SystemExit naming the key it cannot take
    return sets + (["train.steps=2", "eval.every=2"] if args.smoke else [])


def train_twin(
    entry: Entry, k: int, minutes: float, args: argparse.Namespace, sets: list[str]
) -> list:
    """A twin's K seeds at once, one process each on the device (quality.py's
    ``run_script_seed``, which records them in its format), with ``sets`` from
    :func:`twin_sets`."""
    seeds = argparse.Namespace(
        runs=str(Path(args.runs)), variant="", data_root=args.data_root, set=sets,
        resume=False, max_minutes=minutes,
    )  # fmt: skip
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(k) as pool:  # threads that wait on one process each
        records = list(pool.map(lambda seed: quality.run_script_seed(entry, seed, seeds), range(k)))
    device = _device_name(args.device)
    for record in records:
        record.update(device=device, campaign={"seeds_together": k, "budget_minutes": minutes})
    return records


def evaluate_seed(entry: Entry, folder: Path, record: dict, log: Path) -> None:
    """The seed's curve, steps and rate, and its validation-selected checkpoint's test
    figures (``gan eval --best``), into ``record``."""
    run = quality.read_run(folder)
    record["steps"] = run.last_step
    record["curve"] = [{k: v for k, v in e.items() if k != "split"} for e in run.evals]
    rates = [line["steps_per_s"] for line in run.train if "steps_per_s" in line]
    record["steps_per_s"] = sorted(rates)[len(rates) // 2] if rates else None
    rel = recorded(folder.absolute())
    best = "--best" if (folder / "checkpoints" / "best.safetensors").is_file() else None
    eval_args = ["eval", str(rel), *([best] if best else []), "--json"]
    eval_args += ["--set", "eval.split=test"]
    record["eval_command"] = quality.shown(eval_args)
    done = quality.gan(*eval_args, log=log)
    if done.returncode != 0:
        record["error"] = f"gan eval exited {done.returncode}; see {recorded(log)}"
        return
    result = json.loads(done.stdout)
    record["selected_step"] = result["step"]
    at = [c for c in record["curve"] if c["step"] == result["step"]]
    record["val_value"] = at[0].get(entry.metric) if at else None
    record["metrics"] = result["metrics"]
    record["value"] = result["metrics"].get(entry.metric)
    record["met"] = record["value"] is not None and record["value"] >= entry.target


def _device_name(device: str) -> str:
    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()})"


def speed_record(records: list[dict]) -> dict:
    """A model's aggregate rate: seeds × the median of its seeds' logged steps/s."""
    rates = [r["steps_per_s"] for r in records if r.get("steps_per_s")]
    first = records[0]
    return {
        "model": first["model"],
        "spec": first["spec"],
        "device": first["device"],
        "seeds": len(records),
        "steps": [r.get("steps") for r in records],
        "minutes": first.get("minutes"),
        "per_seed_steps_per_s": sorted(rates)[len(rates) // 2] if rates else None,
        "aggregate_steps_per_s": round(sum(rates), 2) if rates else None,
        "choices": first["campaign"]["choices"],
        "date": first["date"],
    }


def append_speed(store: Path, record: dict) -> None:
    """Append to ``campaign`` in speed_gpu.json (its other keys are left as they are)."""
    data = json.loads(store.read_text()) if store.is_file() else {}
    data.setdefault("campaign", []).append(record)
    tmp = store.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(store)


def campaign(args: argparse.Namespace) -> list[dict]:
    keys = args.models or (["AAE"] if args.smoke else DEFAULT_MODELS)
    entries = {e.key: e for e in MODELS}
    unknown = [k for k in keys if k not in entries]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {sorted(entries)}")
    k = (args.seeds or [2 if args.smoke else 4])[0]
    twins = [key for key in keys if entries[key].script]
    sets = {key: twin_sets(entries[key], args) for key in twins}
    if args.smoke:
        args.set = ["train.steps=2", "train.log_every=1", "eval.every=2", "data.val=100", *args.set]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = [key for key in keys if not entries[key].script]
    done: list[dict] = []
    deadline = time.monotonic() + 60 * args.minutes
    # twins train beside the engine's models for the whole budget: a model this size
    # leaves most of a GPU idle, and a twin shares nothing with the engine's processes
    beside = ThreadPoolExecutor(max(1, len(twins)))
    pending = {}
    for key in twins:
        minutes = args.minutes * (1 - EVAL_MARGIN)
        print(f"== {key}: {k} seeds beside the rest, {minutes:.2f} min", flush=True)
        pending[key] = beside.submit(train_twin, entries[key], k, minutes, args, sets[key])
    share = args.minutes / max(1, len(models))
    for key in models:
        left = (deadline - time.monotonic()) / 60
        if left <= 0.2:
            print(f"== {key}: skipped, the budget is spent", flush=True)
            continue
        minutes = max(0.1, min(share, left) * (1 - EVAL_MARGIN))
        print(f"== {key}: {k} seeds, {minutes:.2f} min ({time.strftime('%T')})", flush=True)
        records = train_model(entries[key], k, minutes, args)
        for record in records:
            append_json(out / "quality.json", record)
        speed = speed_record(records)
        append_speed(out / "speed_gpu.json", speed)
        print(json.dumps(speed), flush=True)
        done += records
    for key, future in pending.items():
        for record in future.result():
            if "stopped" in record:  # its minutes ran out: resumable, no record
                print(f"== {key}: stopped {record['stopped']}", flush=True)
                continue
            append_json(out / "quality.json", record)
            done.append(record)
            print(f"== {key} seed {record['seed']}: {record.get('value')}", flush=True)
    beside.shutdown()
    return done


# -- speed on this machine --------------------------------------------------------------


def speed(args: argparse.Namespace) -> dict:
    """Aggregate steps/s of K seeds per model, vectorised and seed by seed, interleaved;
    and which form ``auto`` picks for each."""
    from gan.core.build import build_engine
    from gan.core.data import load_data
    from gan.core.resolve import resolve
    from gan.core.spec import load_spec
    from gan.core.stacked import StackedSteps, obstacle
    from gan.training.replicas import SeedBySeed, choose_form

    counts = args.seeds or [1, 4, 8]
    models = args.models or list(SPEED_MODELS)
    device = torch.device("cpu" if args.device == "auto" else args.device)
    result: dict = {
        "load_average_at_start": list(os.getloadavg()),
        "threads": torch.get_num_threads(),
        "settings": {"seconds": args.seconds, "repeats": args.repeats, "seeds": counts},
        "models": {},
        "load_average_at_end": list(os.getloadavg()),
    }
    for name in models:
        extra = ["data.source=digits"] if args.smoke else [f"data.root={args.data_root}"]
        extra += [f"train.device={device.type}", *args.set]
        load_at_start = os.getloadavg()[0]
        base = load_spec(REPO / "specs" / f"{name}.toml", extra)
        data = load_data(resolve(base))
        rows = {}
        for k in counts:
            engines = [
                build_engine(
                    resolve(
                        base.model_copy(update={"train": base.train.model_copy(update={"seed": s})})
                    ),
                    device,
                    data,
                )
                for s in range(k)
            ]
            steps = {"seed_by_seed": SeedBySeed(engines).step}
            auto = None
            if k > 1:
                choice, stepper = choose_form("auto", engines)
                auto = {"value": choice.value, "reason": choice.reason}
                if isinstance(stepper, StackedSteps):  # auto built it: measure that one
                    steps["vectorised"] = stepper.step
                elif obstacle(engines) is None:  # auto measured it slower: measure it too
                    steps["vectorised"] = StackedSteps(engines).step
            for form, step in list(steps.items()):
                try:
                    measure.warm_up(step, args.seconds / 2, 2)
                except Exception as exc:  # vmap refused this model: auto said so, keep going
                    print(f"{name} {k} {form}: {str(exc).splitlines()[0][:200]}", flush=True)
                    del steps[form]
            rates = measure.interleaved_rates(steps, args.repeats, args.seconds, 2)
            row = {
                form: {"aggregate_steps_per_s": round(k * _median(r), 3), "windows": r}
                for form, r in rates.items()
            }
            row["auto"] = auto
            rows[str(k)] = row
            print(
                name,
                k,
                json.dumps({f: v["aggregate_steps_per_s"] for f, v in row.items() if f != "auto"}),
                auto and auto["value"],
                flush=True,
            )
        rows["load_average"] = [round(load_at_start, 2), round(os.getloadavg()[0], 2)]
        result["models"][name] = rows
        result["load_average_at_end"] = list(os.getloadavg())
        write_speed(result, Path(args.out))  # each model as it ends: a cut window keeps it
    return result


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def speed_markdown(result: dict) -> str:
    counts = result["settings"]["seeds"]
    lines = [
        SECTION,
        "## Many seeds per process (bench/campaign.py --speed)",
        "",
        "Aggregate steps/s (seeds × steps/s of each) of K seeds in one process, "
        f"{result['threads']} thread(s), median of {result['settings']['repeats']} "
        f"interleaved windows of {result['settings']['seconds']} s, nothing else "
        "running unless the load average says otherwise (1-minute load at the model's "
        'start → end). `auto`: the form `train.vectorize = "auto"` picked; "—" where '
        "vectorising cannot run the model (why: below the table).",
        *(["", result["note"]] if result.get("note") else []),
        "",
        "| model | load | "
        + " | ".join(f"K={k} seed by seed | K={k} vectorised | auto" for k in counts)
        + " |",
        "| --- | --- |" + " --- | --- | --- |" * len(counts),
    ]
    reasons: dict[str, str] = {}
    for name, rows in result["models"].items():
        load = rows.get("load_average")
        cells = [f"{load[0]:.1f} → {load[1]:.1f}" if load else "—"]
        for k in counts:
            row = rows[str(k)]
            vec = row.get("vectorised")
            auto = row.get("auto")
            right = ""
            if auto and vec:
                faster = (
                    "vectorised"
                    if vec["aggregate_steps_per_s"] >= row["seed_by_seed"]["aggregate_steps_per_s"]
                    else "seed by seed"
                )
                right = " ✓" if auto["value"] == faster else " ✗"
            if auto and not vec:
                reasons[name] = auto["reason"]
            cells += [
                f"{row['seed_by_seed']['aggregate_steps_per_s']:.2f}",
                f"{vec['aggregate_steps_per_s']:.2f}" if vec else "—",
                (auto["value"] + right) if auto else "—",
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "✓: `auto` picked the form that measured faster in these windows."]
    lines += [f"- {name}: seed by seed, because {why}." for name, why in reasons.items()]
    lines.append("")
    return "\n".join(lines)


def write_speed(result: dict, out: Path) -> None:
    store = out / "speed.json"
    data = json.loads(store.read_text()) if store.is_file() else {}
    old = data.get("seeds")
    if (
        old
        and old.get("settings") == result["settings"]
        and old.get("threads") == result["threads"]
    ):
        # a run of some models replaces those models' rows and keeps the others'
        result = {**result, "models": {**old["models"], **result["models"]}}
    data["seeds"] = result
    store.write_text(json.dumps(data, indent=2) + "\n")
    md = out / "speed.md"
    text = md.read_text() if md.is_file() else ""
    if SECTION in text:
        text = text[: text.index(SECTION)].rstrip() + "\n"
    md.write_text((text + "\n" if text else "") + speed_markdown(result))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.speed:
        speed(args)
        print(f"wrote {Path(args.out) / 'speed.json'} (seeds) and speed.md")
        return
    records = campaign(args)
    failed = [r for r in records if "error" in r]
    print(f"{len(records)} seed records, {len(failed)} failed", flush=True)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
