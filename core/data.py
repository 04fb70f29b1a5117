"""The data a training run reads: splits of a registered data source, scaled to the
spec's pixel range, and the in-memory batch source.

Scaling to the spec's pixel range happens once per process when the batch source is
built. Training then draws batches by indexing — no PIL, no per-sample transform, no
worker processes on the hot path. The sources themselves are components
(:mod:`gan.components.data`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from gan.core.resolve import Resolved, ResolvedSpec
    from gan.core.spec import DataSpec

from gan.core.components import DataContext
from gan.core.errors import DataError, SpecError


def cache_dir() -> Path:
    """Where gan keeps derived files (``$GAN_CACHE``, default ``~/.cache/gan``)."""
    return Path(os.environ.get("GAN_CACHE", Path.home() / ".cache" / "gan")).expanduser()


SPLITS = ("train", "val", "test")


def load_split(source: Resolved, spec: DataSpec, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a split and apply ``val``/``limit``/``channels``; uint8 images, int64 labels.

    ``val`` is carved out of the source's training split (:func:`validation_indices`), so
    "train" here means the training examples *without* the validation ones."""
    if split not in SPLITS:
        raise DataError(f"Unknown data split '{split}'; use one of {', '.join(SPLITS)}.")
    ctx = DataContext("test" if split == "test" else "train")
    images, labels = source.component.factory(source.params, ctx)
    if split != "test":
        held_out = validation_indices(len(images), spec.val, spec.val_seed, spec.val_pick)
        if split == "val" and held_out is None:
            raise DataError(
                "The validation split is empty (data.val = 0). Hold examples out of the "
                "training split with --set data.val=10000 (or evaluate another split)."
            )
        if held_out is not None:
            keep = torch.zeros(len(images), dtype=torch.bool)
            keep[held_out] = True
            keep = keep if split == "val" else ~keep
            images, labels = images[keep], labels[keep]
    if spec.channels and images.shape[1] != spec.channels:
        if images.shape[1] == 1:
            images = images.expand(-1, spec.channels, -1, -1).contiguous()
        else:
            raise DataError(
                f"data.channels = {spec.channels} but the images have {images.shape[1]} "
                f"channels; remove data.channels or set it to {images.shape[1]}."
            )
    if spec.limit is not None and split == "train":
        images, labels = images[: spec.limit], labels[: spec.limit]
    return images, labels


def validation_indices(
    n: int, val: int | float, seed: int, pick: str = "random"
) -> torch.Tensor | None:
    """Indices of the ``val`` training examples (a count, or a fraction of ``n`` when
    below 1) held out for validation: drawn with a generator of their own
    (``data.val_seed``), the same split for every training seed, every resume and every
    process; or, with ``pick = "first"``, the first ``val`` in the source's order (TF's
    MNIST reader, which official recipes were trained beside). None when ``val`` is 0."""
    written = val
    if isinstance(val, float):
        val = round(val * n)
    if not val:
        return None
    if val >= n:
        count = f" ({val} of {n} examples)" if isinstance(written, float) else ""
        raise DataError(
            f"data.val = {written}{count} leaves no training examples (the source has "
            f"{n}). Hold out fewer, e.g. --set data.val={max(1, n // 6)}."
        )
    if pick == "first":
        return torch.arange(val)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:val].sort().values


def scale(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """uint8 [0, 255] → float32 in ``value_range``."""
    lo, hi = value_range
    return images.float().mul_((hi - lo) / 255.0).add_(lo)


class BatchSource:
    """Shuffled, epoch-based batches drawn by index from tensors held in memory.

    The order comes from its own ``torch.Generator``, so the position in the data can be
    checkpointed and restored exactly (``state_dict``). Incomplete last batches are
    dropped: every step sees ``batch_size`` examples, which keeps batch statistics and
    the latent samplers' batch size consistent.

    With ``world_size`` processes every rank draws the same order (same seed) and takes
    its own ``batch_size`` slice of each global batch of ``world_size * batch_size``, so
    2 ranks with batch B see exactly the examples 1 rank with batch 2B sees.

    The data stays on the GPU when it fits; otherwise each batch is gathered on the host
    and copied from pinned memory without blocking.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        seed: int,
        device: torch.device,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.global_batch = batch_size * world_size
        if len(images) < self.global_batch:
            per = f" × {world_size} processes" if world_size > 1 else ""
            raise DataError(
                f"The data has {len(images)} training examples, fewer than one batch "
                f"(train.batch_size = {batch_size}{per}). Lower train.batch_size."
            )
        self.device = torch.device(device)
        self.resident = _fits_on(self.device, images.nbytes + labels.nbytes)
        self.images = images.to(self.device) if self.resident else images
        self.labels = labels.to(self.device) if self.resident else labels
        self.batch_size = batch_size
        self.rank = rank
        self.generator = torch.Generator().manual_seed(seed)
        self.batches_per_epoch = len(images) // self.global_batch
        self.epoch = 0
        self.position = 0
        self._order = self._permutation()

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(len(self.images), generator=self.generator)

    def next(self) -> dict[str, torch.Tensor]:
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
            self._order = self._permutation()
        start = self.position * self.global_batch + self.rank * self.batch_size
        idx = self._order[start : start + self.batch_size].to(self.images.device)
        self.position += 1
        x, y = self.images.index_select(0, idx), self.labels.index_select(0, idx)
        if not self.resident:  # data kept on the host: pinned, asynchronous copy
            x = x.pin_memory().to(self.device, non_blocking=True)
            y = y.pin_memory().to(self.device, non_blocking=True)
        return {"x": x, "y": y}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "generator": self.generator.get_state(),
            "order": self._order.clone(),
            "epoch": torch.tensor(self.epoch),
            "position": torch.tensor(self.position),
            "global_batch": torch.tensor(self.global_batch),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the order and position. A checkpoint written with another number of
        processes counted its position in global batches of another size: the position
        is converted through the examples consumed, rounded up to a whole batch, so no
        example is seen twice in the epoch (at most one global batch is skipped)."""
        self.generator.set_state(state["generator"])
        self._order = state["order"].clone()
        self.epoch = int(state["epoch"])
        saved_batch = int(state.get("global_batch", self.batch_size))
        consumed = int(state["position"]) * saved_batch
        self.position = -(-consumed // self.global_batch)


def _fits_on(device: torch.device, nbytes: int) -> bool:
    """Whether a data set of ``nbytes`` should be kept on ``device``: always on the CPU;
    on a GPU when it takes at most a quarter of the free memory (the rest is for the
    networks and activations)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= free // 4


def load_data(model: ResolvedSpec, split: str = "train", *, whole: bool = False):
    """A split on the CPU, scaled to the spec's pixel range. ``whole`` ignores ``data.limit`` (a
    training-speed knob): evaluation judges and probes use the whole split."""
    spec = model.spec
    data_spec = spec.data.model_copy(update={"limit": None}) if whole else spec.data
    images, labels = load_split(model.data_source, data_spec, split)
    expected = model.context.image_shape
    if tuple(images.shape[1:]) != tuple(expected):
        raise SpecError(
            f"data: the source gives images of shape {tuple(images.shape[1:])} but the spec's "
            f"networks were built for {tuple(expected)}. Set data.image_size / data.channels."
        )
    return scale(images, spec.data.range), labels
