"""An engine's state as flat tensors plus string metadata, and back: what a safetensors
checkpoint holds (:mod:`gan.training.checkpoint` writes and reads the file).

The engine gives its own state as nested dicts (:meth:`Engine.state_dict`: networks,
optimizers, schedules, the sampler stream, the data position, the step); this module adds
the process-wide random streams (python, numpy, torch, CUDA), flattens everything into
``net.*`` / ``optim.*`` / ``rng.*`` / ``data.*`` tensors and JSON metadata, and on the way
back checks that every tensor fits the spec before anything is loaded.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import torch

from gan.core import schedules
from gan.core.engine import Engine
from gan.core.errors import CheckpointError

__all__ = ["UNUSABLE_STATE", "load_state_tensors", "state_tensors"]

# What a checkpoint's metadata (JSON text, possibly from elsewhere) can raise when it
# does not hold what gan wrote: reported as a CheckpointError.
UNUSABLE_STATE = (ValueError, KeyError, RuntimeError, TypeError, AttributeError, RecursionError)


def state_tensors(engine: Engine) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Everything needed to resume exactly, as flat tensors + string metadata."""
    state = engine.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, str] = {}
    for name, sd in state["networks"].items():
        for key, value in sd.items():
            tensors[f"net.{name}.{key}"] = value.detach().cpu().contiguous()
    for phase, sd in state["optimizers"].items():
        scalars: dict[Any, dict[str, Any]] = {}
        for idx, entry in sd["state"].items():
            for key, value in entry.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{phase}.{idx}.{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        meta[f"optim.{phase}"] = json.dumps(
            {"param_groups": sd["param_groups"], "scalars": scalars}
        )
    for phase, sd in state["schedulers"].items():
        meta[f"sched.{phase}"] = schedules.dict_to_json(sd)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.sampler"] = state["sampler_rng"].cpu()
    if torch.cuda.is_available() and engine.device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(engine.device)
    np_state: Any = np.random.get_state()  # the legacy tuple form
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    meta["rng.numpy"] = json.dumps(
        [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]
    )
    py_state = random.getstate()
    tensors["rng.python"] = torch.tensor(py_state[1], dtype=torch.int64)
    meta["rng.python"] = json.dumps([py_state[0], py_state[2]])
    if state["data"] is not None:
        for key, value in state["data"].items():
            tensors[f"data.{key}"] = value
    meta["step"] = str(state["step"])
    meta["epoch"] = str(state["epoch"])
    return tensors, meta


def load_state_tensors(
    engine: Engine, tensors: dict[str, torch.Tensor], meta: dict[str, str]
) -> None:
    """Restore from :func:`state_tensors` output; CheckpointError on any mismatch."""
    networks = {}
    for name, net in engine.networks.items():
        own = net.state_dict()
        prefix = f"net.{name}."
        loaded = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        missing = sorted(set(own) - set(loaded))
        if missing:
            raise CheckpointError(
                f"The checkpoint has no tensor for network '{name}' key(s) "
                f"{', '.join(missing[:5])}: it was written for another spec."
            )
        for key, value in own.items():
            if loaded[key].shape != value.shape:
                raise CheckpointError(
                    f"Network '{name}' tensor '{key}' has shape {tuple(loaded[key].shape)} "
                    f"in the checkpoint but {tuple(value.shape)} in this spec: it was "
                    f"written for another spec."
                )
        networks[name] = {k: loaded[k] for k in own}
    engine.load_state_dict({"networks": networks})
    for phase in engine.optimizers:
        if f"optim.{phase}" not in meta:
            raise CheckpointError(f"The checkpoint has no optimizer state for phase '{phase}'.")
        try:
            info = json.loads(meta[f"optim.{phase}"])
            state: dict[int, dict] = {}
            prefix = f"optim.{phase}."
            for key, value in tensors.items():
                if key.startswith(prefix):
                    idx, name = key[len(prefix) :].split(".", 1)
                    state.setdefault(int(idx), {})[name] = value
            for idx, entry in info["scalars"].items():
                state.setdefault(int(idx), {}).update(entry)
            sd = {"state": state, "param_groups": info["param_groups"]}
            engine.load_state_dict({"optimizers": {phase: sd}})
        except UNUSABLE_STATE as exc:
            raise CheckpointError(
                f"Optimizer state of phase '{phase}' does not fit this spec: {exc}"
            ) from None
    for phase in engine.schedulers:
        if f"sched.{phase}" not in meta:
            raise CheckpointError(
                f"The checkpoint has no learning-rate schedule state for phase '{phase}'."
            )
        try:
            sd = schedules.dict_from_json(meta[f"sched.{phase}"])
            engine.load_state_dict({"schedulers": {phase: sd}})
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"The learning-rate schedule state of phase '{phase}' is unusable: {exc}"
            ) from None
    try:
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and engine.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], engine.device)
        kind, pos, has_gauss, cached = json.loads(meta["rng.numpy"])
        keys = tensors["rng.numpy"].numpy().astype(np.uint32)
        np.random.set_state((kind, keys, pos, has_gauss, cached))
        version, gauss = json.loads(meta["rng.python"])
        random.setstate((version, tuple(int(v) for v in tensors["rng.python"]), gauss))
        data = {k[5:]: v for k, v in tensors.items() if k.startswith("data.")}
        has_data = engine.data is not None
        engine.load_state_dict(
            {"sampler_rng": tensors["rng.sampler"], "data": data if has_data else None}
        )
    except UNUSABLE_STATE as exc:
        raise CheckpointError(f"The checkpoint's random-number state is unusable: {exc}") from None
    try:
        step = int(meta["step"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"The checkpoint's step is unusable: {exc!r}.") from None
    engine.load_state_dict({"step": step})
