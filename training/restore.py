"""A trained engine back from a checkpoint (for ``gan eval`` and ``gan sample``).

A checkpoint carries its spec (``spec_toml`` metadata), so a checkpoint file alone is
enough: the spec is rebuilt from it, ``--set`` overrides apply on top (e.g. to add
metrics or point ``data.root`` elsewhere), and the weights are loaded into a fresh
engine. Overrides that change the networks fail on the shape check, naming the tensor.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan.core.build import build_engine
from gan.core.data import load_data
from gan.core.engine import Engine
from gan.core.errors import CheckpointError
from gan.core.spec import Spec, parse_toml, spec_from_dict
from gan.training import checkpoint, state
from gan.training.checkpoint import BEST


def checkpoint_path(path: str | Path, best: bool = False) -> Path:
    """A checkpoint file, or a run folder's newest (``best=True``: its best) checkpoint."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.exists():
        raise CheckpointError(
            f"'{path}' does not exist. Give a run folder (e.g. runs/bigan) or a .safetensors "
            f"checkpoint written by `gan run`."
        )
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if best:
        if not (folder / BEST).is_file():
            raise CheckpointError(
                f"'{folder}' has no {BEST}: it is written when the spec's [eval] sets `every` "
                f"and `best`. Drop --best to use the newest checkpoint."
            )
        return folder / BEST
    found = checkpoint.latest(folder)
    if found is None:
        raise CheckpointError(
            f"'{path}' holds no checkpoint. Give a run folder written by `gan run` (with a "
            f"checkpoints/ folder) or a .safetensors file."
        )
    return found


def restore(
    path: str | Path,
    overrides: list[str] | None = None,
    device: str = "cpu",
    best: bool = False,
) -> tuple[Engine, Path]:
    """The engine of a checkpoint with its weights loaded, in eval mode."""
    file = checkpoint_path(path, best)
    tensors, meta = checkpoint.load(file)
    if "spec_toml" not in meta:
        raise CheckpointError(f"'{file}' carries no spec; it was not written by `gan run`.")
    data = parse_toml(meta["spec_toml"], f"the spec stored in '{file}'")
    spec = spec_from_dict(data, [*(overrides or []), f"train.device={device}"], str(file))
    spec = _no_download_into_stored_root(spec, overrides or [])
    engine = build_engine(spec, device, with_data=False)
    state.load_state_tensors(engine, tensors, meta)
    engine.train_mode(False)
    return engine, file


def _no_download_into_stored_root(spec: Spec, overrides: list[str]) -> Spec:
    """A data.root stored in a checkpoint (which may come from elsewhere) is only read: a
    folder that does not exist here is not created by a download. ``--set data.root=...``
    (or ``data.download``) on the command line is the user's own choice."""
    chosen = {item.split("=", 1)[0].strip() for item in overrides}
    root = spec.data.root
    if not root or not spec.data.download or chosen & {"data.root", "data.download", "data"}:
        return spec
    if Path(root).expanduser().is_dir():
        return spec
    return spec.model_copy(update={"data": spec.data.model_copy(update={"download": False})})


def data_loader(engine: Engine):
    """``split -> (images, labels)`` on the CPU, in the spec's pixel range."""

    def load(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        return load_data(engine.model, split, whole=True)

    return load
