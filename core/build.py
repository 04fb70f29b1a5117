"""One way to build an engine: from a spec (or a resolved spec), a device and data.

The trainer, ``gan eval``/``gan sample`` (restore), ``gan bench``, ``bench/speed.py``,
:mod:`gan.testing` and the tests all build their engines here, so an engine is always
assembled the same way: resolve, pick the device, load and scale the training split,
wrap it in a :class:`~gan.core.data.BatchSource`, build networks, samplers and optimizers.
"""

from __future__ import annotations

import torch

from gan.core.data import BatchSource, load_data
from gan.core.device import pick_device
from gan.core.engine import Engine
from gan.core.resolve import ResolvedSpec, resolve
from gan.core.spec import Spec

__all__ = ["build_engine"]

Data = tuple[torch.Tensor, torch.Tensor]


def build_engine(
    spec: Spec | ResolvedSpec,
    device: torch.device | str | None = None,
    data: Data | None = None,
    *,
    with_data: bool = True,
    rank: int = 0,
    world_size: int = 1,
) -> Engine:
    """An engine for ``spec`` on ``device`` (default: the spec's ``train.device``).

    ``data`` is the training split as ``(images, labels)`` from
    :func:`gan.core.data.load_data` (default: loaded here); ``with_data=False`` builds an
    engine without a batch source (restoring a checkpoint for evaluation or sampling).
    ``rank``/``world_size``: this process's slice of every global batch.
    """
    model = spec if isinstance(spec, ResolvedSpec) else resolve(spec)
    if device is None or isinstance(device, str):
        device = pick_device(device or model.spec.train.device)
    if not with_data:
        return Engine(model, device)
    images, labels = data if data is not None else load_data(model)
    t = model.spec.train
    batches = BatchSource(images, labels, t.batch_size, t.seed, device, rank, world_size)
    return Engine(model, device, batches)
