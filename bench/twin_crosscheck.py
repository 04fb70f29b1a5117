"""ClusterGAN's engine and its twin scored on the same images by the same code.

The twin-range target compares validation curves, but the two programs held out
different validation images: the twin the first 5,000 training images (TF's
``read_data_sets``, as the official code), the engine's runs until ``data.val_pick =
"first"`` 5,000 drawn with ``data.val_seed``. A difference between the two sides'
curves can then come from the images, not the programs. This script takes the final
encoder of every finished run on both sides and scores each on the twin's validation
images, on the engine's and on the test split, all with the twin's own scoring code
(``evaluate``: k-means on [ẑ_n, softmax(ẑ_c)], ``n_init=10``, ``random_state=0``, then
purity), so each row differs only in the encoder. It also keeps each run's own figure
as recorded beside the ones recomputed here (the two scoring codes agree when the
numbers do).

    python bench/twin_crosscheck.py --runs bench/runs/quality --data ../shared/data/mnist

writes ``bench/results/clustergan_twin_crosscheck.json`` and prints a table.

Run folders are not committed, so a later checkout may hold only some of the runs.
``--merge`` keeps the rows of the existing results file for runs not found under
``--runs`` (named in ``"kept"``) and scores the rest; the engine's carve-out then comes
from that file's ``"engine_carve"`` (or ``--engine-carve VAL SEED PICK`` where an older
file lacks it), so a run scored later reads the same images as the rows kept:

    python bench/twin_crosscheck.py --merge --engine-carve 0.08333 0 random
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from common import RESULTS, RUNS, add_data_root, command_line, load_twin

STEPS = 3000  # the comparison's budget: only runs that reached it are scored
SPLITS = ("val_first", "val_engine", "test")


def twin_encoder(twin: ModuleType, state: Path) -> torch.nn.Module | None:
    """The twin's encoder at its last step, from its state file; None before STEPS."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(state), framework="pt") as f:
        scalars = json.loads((f.metadata() or {}).get("state", "{}"))
    if scalars.get("step") != STEPS:
        return None
    encoder = twin.Encoder()
    tensors = load_file(str(state))
    encoder.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("E.")})
    return encoder.eval()


Carve = tuple[int | float, int, str]  # data.val, data.val_seed, data.val_pick


def engine_encoder(run: Path) -> tuple[torch.nn.Module, Carve] | None:
    """The engine's encoder at step STEPS and its run's validation carve-out; None
    before STEPS."""
    from gan.training.restore import restore

    file = run / "checkpoints" / f"step_{STEPS:08d}.safetensors"
    if not file.is_file():
        return None
    engine, _ = restore(file)
    data = engine.model.spec.data
    return engine.networks["E"].eval(), (data.val, data.val_seed, data.val_pick)


def splits(twin: ModuleType, folder: Path, carve: Carve) -> dict[str, tuple]:
    """The three image sets, pixels in [0, 1] as both programs read them; the engine's
    validation images picked from the training file in its order, as the engine does."""
    from gan.core.data import validation_indices

    data = twin.load_mnist(folder)
    x = np.concatenate([data["val"][0], data["train"][0]])  # the training file, in order
    y = np.concatenate([data["val"][1], data["train"][1]])
    held = validation_indices(len(x), *carve)
    if held is None:
        sys.exit("the engine's runs held no validation split out (data.val = 0)")
    idx = held.numpy()
    return {"val_first": data["val"], "val_engine": (x[idx], y[idx]), "test": data["test"]}


def recorded_figures(runs: Path, name: str) -> dict[str, float]:
    """What the run itself wrote for step STEPS: its validation and test purity."""
    if name.startswith("clustergan-twin"):
        lines = [json.loads(s) for s in (runs / f"{name}.jsonl").read_text().splitlines() if s]
        val = next(d["kmeans/purity"] for d in lines if d.get("step") == STEPS and "split" in d)
        final = next((d for d in lines if d.get("final")), {})
        return {"val": val, "test": final.get("test_final", {}).get("kmeans/purity")}
    rows = [json.loads(s) for s in (runs / name / "metrics.jsonl").read_text().splitlines() if s]
    val = next(d["eval/kmeans/purity"] for d in rows if d.get("step") == STEPS and "split" in d)
    return {"val": val}


def parse_carve(given: list[str] | None) -> Carve | None:
    """``--engine-carve VAL SEED PICK`` as the engine's (data.val, data.val_seed,
    data.val_pick): VAL a count, or a fraction when it has a point."""
    if not given:
        return None
    val, seed, pick = given
    return (float(val) if "." in val else int(val)), int(seed), pick


def kept_rows(out: Path, found: set[str]) -> tuple[list[dict], Carve | None]:
    """The rows of an earlier results file for runs not found now, and the engine
    carve-out it recorded (None where it recorded none)."""
    if not out.is_file():
        return [], None
    earlier = json.loads(out.read_text())
    carve = earlier.get("engine_carve")
    rows = [r for r in earlier["runs"] if r["run"] not in found]
    return rows, (tuple(carve) if carve else None)  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, default=RUNS / "quality", help="the quality runs")
    add_data_root(p)
    p.add_argument("--out", type=Path, default=RESULTS / "clustergan_twin_crosscheck.json")
    p.add_argument(
        "--merge",
        action="store_true",
        help="keep the rows of the existing --out file for runs not found under --runs",
    )
    p.add_argument(
        "--engine-carve",
        nargs=3,
        metavar=("VAL", "SEED", "PICK"),
        help="the engine runs' data.val, data.val_seed, data.val_pick, where no engine "
        "run is found and the --out file does not record them",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    twin = load_twin()
    encoders: dict[str, torch.nn.Module] = {}
    carves = set()
    for run in sorted(args.runs.glob("clustergan_s*")):
        found = engine_encoder(run) if run.is_dir() else None
        if found is not None:
            encoders[run.name], carve = found
            carves.add(carve)
    for state in sorted(args.runs.glob("clustergan-twin_s*.state.safetensors")):
        encoder = twin_encoder(twin, state)
        if encoder is not None:
            encoders[state.name.split(".")[0]] = encoder
    kept, kept_carve = kept_rows(args.out, set(encoders)) if args.merge else ([], None)
    carves |= {c for c in (kept_carve, parse_carve(args.engine_carve)) if c is not None}
    if len(carves) != 1:
        sys.exit(f"want engine runs of {STEPS} steps under {args.runs}, all with one "
                 f"validation carve-out (found {sorted(carves) or 'none'}); with --merge, "
                 "--engine-carve VAL SEED PICK names it")  # fmt: skip
    engine_carve = carves.pop()
    images = splits(twin, args.data_root, engine_carve)
    rows = list(kept)
    for name, encoder in encoders.items():
        side = "twin" if name.startswith("clustergan-twin") else "engine"
        scores = {s: twin.evaluate(encoder, *images[s])["kmeans/purity"] for s in SPLITS}
        rows.append({"run": name, "side": side, "seed": int(name.rsplit("_s", 1)[1]),
                     "purity": scores, "recorded": recorded_figures(args.runs, name)})  # fmt: skip
        print(f"{name:20s} " + "  ".join(f"{s} {v:.4f}" for s, v in scores.items()), flush=True)
    medians = {
        side: {s: statistics.median(r["purity"][s] for r in rows if r["side"] == side)
               for s in SPLITS}
        for side in ("engine", "twin") if any(r["side"] == side for r in rows)
    }  # fmt: skip
    result = {
        "command": command_line("python bench/twin_crosscheck.py", argv),
        "steps": STEPS,
        "scorer": "bench/reference/clustergan_official.py evaluate (k-means purity)",
        "splits": {
            "val_first": "the first 5,000 training images (the twin's and TF's validation)",
            "val_engine": "the engine's 5,000 (data.val, data.val_seed of its runs)",
            "test": "the MNIST test split",
        },
        "engine_carve": list(engine_carve),
        "runs": sorted(rows, key=lambda r: (r["side"], r["seed"])),
        "kept": [r["run"] for r in kept],
        "median": medians,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(medians))
    return result


if __name__ == "__main__":
    main()
