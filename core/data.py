"""Data sources and the in-memory batch source.

Every source decodes its images once into a ``uint8`` tensor (N, C, H, W) plus int64
labels. Resizing happens once, at load; scaling to the spec's pixel range happens once
per process when the batch source is built. Training then draws batches by indexing —
no PIL, no per-sample transform, no worker processes on the hot path.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import os
import shutil
import stat
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from gan.core.components import DataInfo, DataSource
from gan.core.errors import DataError

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def cache_dir() -> Path:
    """Where gan keeps derived files (``$GAN_CACHE``, default ``~/.cache/gan``)."""
    return Path(os.environ.get("GAN_CACHE", Path.home() / ".cache" / "gan")).expanduser()


def default_root() -> Path:
    return cache_dir() / "data"


def _resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or (images.shape[-1] == size and images.shape[-2] == size):
        return images
    from torchvision.transforms.v2 import functional as TF

    return TF.resize(images, [size, size], antialias=True)


def _has_idx(folder: Path) -> bool:
    return all((folder / f).exists() or (folder / f"{f}.gz").exists() for f in IDX_FILES)


def _torchvision_root_from_idx(folder: Path, dataset_dir: str) -> Path:
    """Lay a folder of original IDX files out the way torchvision expects
    (``<root>/<MNIST|FashionMNIST>/raw/``), decompressed, in the cache; once."""
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    root = cache_dir() / "idx" / key
    raw = root / dataset_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        dst = raw / name
        if dst.exists():
            continue
        src = folder / name
        tmp = raw / f".{name}.tmp"
        try:
            if src.exists():
                shutil.copyfile(src, tmp)
            else:
                with gzip.open(folder / f"{name}.gz", "rb") as f, open(tmp, "wb") as out:
                    shutil.copyfileobj(f, out)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a damaged .gz must not leave half a file behind
            raise
        tmp.replace(dst)
    return root


def _torchvision_dataset(cls_name: str, dataset_dir: str, spec, split: str):
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    folder = Path(spec.root).expanduser() if spec.root else default_root()
    train = split == "train"
    if folder.is_dir() and _has_idx(folder):
        try:
            root, download = _torchvision_root_from_idx(folder, dataset_dir), False
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"data.root = '{folder}': its IDX files cannot be read or copied into the "
                f"cache '{cache_dir()}' ({type(exc).__name__}: {exc}). Replace damaged files "
                f"with the original downloads, or set GAN_CACHE to a writable folder."
            ) from None
    else:
        root, download = folder, spec.download
    try:
        ds = cls(str(root), train=train, download=download)
    except Exception as exc:
        raise DataError(
            f"data.source = '{spec.source}': cannot load it from data.root = '{folder}' "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}). "
            f"Point data.root at a folder holding the four original IDX files "
            f"(e.g. --set data.root=../shared/data/mnist), or use the offline set with "
            f"--set data.source=digits."
        ) from None
    return ds.data.unsqueeze(1).contiguous(), ds.targets.long()


@functools.lru_cache(maxsize=8)
def _cached(source: str, root: str | None, download: bool, split: str):
    from types import SimpleNamespace

    spec = SimpleNamespace(source=source, root=root, download=download)
    if source == "mnist":
        return _torchvision_dataset("MNIST", "MNIST", spec, split)
    return _torchvision_dataset("FashionMNIST", "FashionMNIST", spec, split)


def mnist_like(spec, split: str):
    images, labels = _cached(spec.source, spec.root, spec.download, split)
    return _resize(images, spec.image_size), labels


def mnist_info(spec) -> DataInfo:
    return DataInfo((spec.channels or 1, spec.image_size or 28, spec.image_size or 28), 10)


def digits(spec, split: str):
    """scikit-learn's bundled 8×8 handwritten digits (1797 images): works offline."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8))
    labels = torch.from_numpy(d.target.astype(np.int64))
    test = torch.arange(len(labels)) % 5 == 0  # a fixed 80/20 split
    keep = test if split == "test" else ~test
    return _resize(images[keep].unsqueeze(1), spec.image_size), labels[keep]


def digits_info(spec) -> DataInfo:
    return DataInfo((spec.channels or 1, spec.image_size or 8, spec.image_size or 8), 10)


def image_folder(spec, split: str):
    """A folder of class sub-folders of images (torchvision ImageFolder layout)."""
    from torchvision.datasets import ImageFolder
    from torchvision.transforms.v2 import functional as TF

    if not spec.root or not Path(spec.root).expanduser().is_dir():
        raise DataError(
            f"data.source = 'image-folder' needs data.root to be a folder of class "
            f"sub-folders of images; '{spec.root}' is not a folder."
        )
    if spec.image_size is None:
        raise DataError("data.source = 'image-folder' needs data.image_size (e.g. 64).")
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[spec.channels or 3]
    root = Path(spec.root).expanduser()
    try:
        ds = ImageFolder(str(root))  # lists the files; they are decoded below
    except (OSError, RuntimeError) as exc:
        raise DataError(f"data.root = '{spec.root}': {exc}") from None
    images, labels, unreadable = [], [], []
    for path, label in ds.samples:
        try:
            t = _read_image(path, mode)
        except _Unreadable as exc:
            unreadable.append((path, str(exc)))
            continue
        images.append(TF.resize(t, [spec.image_size, spec.image_size], antialias=True))
        labels.append(label)
    if unreadable:
        listed = _list_files(root, unreadable)
        if not spec.skip_unreadable:
            raise DataError(
                f"data.root = '{spec.root}': {len(unreadable)} file(s) cannot be read as "
                f"images: {listed}. Remove or replace them, or set data.skip_unreadable = "
                f"true to skip them with a warning."
            )
        print(
            f"warning: data.root = '{spec.root}': skipping {len(unreadable)} file(s) that "
            f"cannot be read as images (data.skip_unreadable = true): {listed}.",
            file=sys.stderr,
            flush=True,
        )
    if not images:
        raise DataError(f"data.root = '{spec.root}': no readable image is left to train on.")
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


class _Unreadable(Exception):
    """An image file that cannot be decoded; the message says why."""


def _read_image(path: str, mode: str) -> torch.Tensor:
    """One image file as a uint8 (C, H, W) tensor, or :class:`_Unreadable`. Only regular
    files are opened (a named pipe would block, a device never end)."""
    import PIL
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        raise _Unreadable(exc.strerror or type(exc).__name__) from None
    if not regular:
        raise _Unreadable("not a regular file")
    try:
        with Image.open(path) as im:
            return TF.pil_to_tensor(im.convert(mode))
    except PIL.UnidentifiedImageError:
        raise _Unreadable("not an image file") from None
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc) or type(exc).__name__) from None
    except Exception as exc:  # decoders raise many kinds (SyntaxError, ValueError, …)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        why = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        raise _Unreadable(why) from None


def _list_files(root: Path, problems: list[tuple[str, str]], shown: int = 10) -> str:
    """``'cat/a.png' (not an image file), …`` with paths relative to ``root``."""

    def rel(path: str) -> str:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            return path

    text = ", ".join(f"'{rel(p)}' ({why})" for p, why in problems[:shown])
    more = len(problems) - shown
    return text + (f" and {more} more" if more > 0 else "")


def image_folder_info(spec) -> DataInfo:
    n = 10
    if spec.root and Path(spec.root).expanduser().is_dir():
        with contextlib.suppress(OSError):  # unreadable: loading the data reports it
            n = max(1, sum(1 for p in Path(spec.root).expanduser().iterdir() if p.is_dir()))
    side = spec.image_size or 64
    return DataInfo((spec.channels or 3, side, side), n)


DATA_SOURCES = [
    DataSource("mnist", mnist_like, describe=mnist_info, doc="MNIST digits (torchvision)."),
    DataSource(
        "fashion-mnist", mnist_like, describe=mnist_info, doc="Fashion-MNIST (torchvision)."
    ),
    DataSource("digits", digits, describe=digits_info, doc=digits.__doc__ or ""),
    DataSource("image-folder", image_folder, describe=image_folder_info, doc=image_folder.__doc__),
]


SPLITS = ("train", "val", "test")


def load_split(source: DataSource, spec, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a split and apply ``val``/``limit``/``channels``; uint8 images, int64 labels.

    ``val`` is carved out of the source's training split (:func:`validation_indices`), so
    "train" here means the training examples *without* the validation ones."""
    if split not in SPLITS:
        raise DataError(f"Unknown data split '{split}'; use one of {', '.join(SPLITS)}.")
    images, labels = source.factory(spec, "test" if split == "test" else "train")
    if split != "test":
        held_out = validation_indices(len(images), spec.val, spec.val_seed)
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


def validation_indices(n: int, val: int | float, seed: int) -> torch.Tensor | None:
    """Indices of the ``val`` training examples (a count, or a fraction of ``n`` when
    below 1) held out for validation, drawn with a generator of their own
    (``data.val_seed``): the same split for every training seed, every resume and every
    process. None when ``val`` is 0."""
    if isinstance(val, float):
        val = round(val * n)
    if not val:
        return None
    if val >= n:
        raise DataError(
            f"data.val = {val} leaves no training examples (the source has {n}). "
            f"Hold out fewer, e.g. --set data.val={max(1, n // 6)}."
        )
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
