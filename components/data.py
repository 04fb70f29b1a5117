"""Built-in data sources: ``mnist``, ``fashion-mnist``, ``digits``, ``image-folder``.

Every source decodes its images once into a ``uint8`` tensor (N, C, H, W) plus int64
labels; resizing happens once, at load. A plugin like any other: it registers through
the ``gan_data_sources`` hook.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import os
import secrets
import shutil
import stat
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from gan.core.components import BuildContext, DataContext, DataSource, Params
from gan.core.data import cache_dir
from gan.core.errors import DataError
from gan.core.hooks import hookimpl

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def default_root() -> Path:
    return cache_dir() / "data"


def _resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Bilinear, antialiased: the same values as torchvision's ``resize`` of uint8 images
    (which calls this), without importing torchvision (seconds, for 8×8 digits)."""
    if size is None or (images.shape[-1] == size and images.shape[-2] == size):
        return images
    return torch.nn.functional.interpolate(
        images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )


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
        # unique per process (and call): two processes reading one folder at once must
        # not rename each other's temporary file away; the last rename wins, and both
        # wrote the same complete file
        tmp = raw / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
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


def _torchvision_dataset(cls_name: str, dataset_dir: str, source: str, root, download, split):
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    folder = Path(root).expanduser() if root else default_root()
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
        root = folder
    try:
        ds = cls(str(root), train=train, download=download)
    except Exception as exc:
        raise DataError(
            f"data.source = '{source}': cannot load it from data.root = '{folder}' "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}). "
            f"Point data.root at a folder holding the four original IDX files "
            f"(e.g. --set data.root=../shared/data/mnist), or use the offline set with "
            f"--set data.source=digits."
        ) from None
    return ds.data.unsqueeze(1).contiguous(), ds.targets.long()


class IdxParams(Params):
    """The ``[data]`` keys an MNIST-like source reads."""

    root: str | None = None
    download: bool = True
    image_size: int | None = None


class DigitsParams(Params):
    image_size: int | None = None


class ImageFolderParams(Params):
    root: str | None = None
    image_size: int | None = None
    channels: int | None = None
    skip_unreadable: bool = False


@functools.lru_cache(maxsize=8)
def _cached(source: str, root: str | None, download: bool, split: str):
    if source == "mnist":
        return _torchvision_dataset("MNIST", "MNIST", source, root, download, split)
    return _torchvision_dataset("FashionMNIST", "FashionMNIST", source, root, download, split)


def _idx_source(source: str):
    """The factory of an MNIST-like source (``mnist`` or ``fashion-mnist``)."""

    def load(p: IdxParams, ctx: DataContext):
        images, labels = _cached(source, p.root, p.download, ctx.split)
        return _resize(images, p.image_size), labels

    load.__doc__ = f"{source} from its original IDX files (torchvision's loader)."
    return load


def idx_info(p: IdxParams) -> BuildContext:
    return BuildContext((1, p.image_size or 28, p.image_size or 28), 10)


def digits(p: DigitsParams, ctx: DataContext):
    """scikit-learn's bundled 8×8 handwritten digits (1797 images): works offline."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8))
    labels = torch.from_numpy(d.target.astype(np.int64))
    test = torch.arange(len(labels)) % 5 == 0  # a fixed 80/20 split
    keep = test if ctx.split == "test" else ~test
    return _resize(images[keep].unsqueeze(1), p.image_size), labels[keep]


def digits_info(p: DigitsParams) -> BuildContext:
    return BuildContext((1, p.image_size or 8, p.image_size or 8), 10)


def image_folder(spec: ImageFolderParams, ctx: DataContext):
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


def image_folder_info(spec: ImageFolderParams) -> BuildContext:
    n = 10
    if spec.root and Path(spec.root).expanduser().is_dir():
        with contextlib.suppress(OSError):  # unreadable: loading the data reports it
            n = max(1, sum(1 for p in Path(spec.root).expanduser().iterdir() if p.is_dir()))
    side = spec.image_size or 64
    return BuildContext((spec.channels or 3, side, side), n)


DATA_SOURCES = [
    DataSource("mnist", _idx_source("mnist"), IdxParams, describe=idx_info, doc="MNIST digits."),
    DataSource(
        "fashion-mnist",
        _idx_source("fashion-mnist"),
        IdxParams,
        describe=idx_info,
        doc="Fashion-MNIST.",
    ),
    DataSource("digits", digits, DigitsParams, describe=digits_info, doc=digits.__doc__ or ""),
    DataSource(
        "image-folder",
        image_folder,
        ImageFolderParams,
        describe=image_folder_info,
        doc=image_folder.__doc__ or "",
    ),
]


@hookimpl
def gan_data_sources():
    return DATA_SOURCES
