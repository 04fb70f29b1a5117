"""Built-in data sources: ``mnist``, ``fashion-mnist``, ``digits``, ``image-folder``.

Every source decodes its images once into a ``uint8`` tensor (N, C, H, W) plus int64
labels; resizing happens once, at load. A plugin like any other: it registers through
the ``gan_data_sources`` hook.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import torch

from gan.core.components import DataInfo, DataSource
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
        if src.exists():
            shutil.copyfile(src, tmp)
        else:
            with gzip.open(folder / f"{name}.gz", "rb") as f, open(tmp, "wb") as out:
                shutil.copyfileobj(f, out)
        tmp.replace(dst)
    return root


def _torchvision_dataset(cls_name: str, dataset_dir: str, spec, split: str):
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    folder = Path(spec.root).expanduser() if spec.root else default_root()
    train = split == "train"
    if folder.is_dir() and _has_idx(folder):
        root, download = _torchvision_root_from_idx(folder, dataset_dir), False
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
    from PIL import Image
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
    try:
        ds = ImageFolder(str(Path(spec.root).expanduser()))
    except (FileNotFoundError, RuntimeError) as exc:
        raise DataError(f"data.root = '{spec.root}': {exc}") from None
    images, labels = [], []
    for path, label in ds.samples:
        with Image.open(path) as im:
            t = TF.pil_to_tensor(im.convert(mode))
        images.append(TF.resize(t, [spec.image_size, spec.image_size], antialias=True))
        labels.append(label)
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def image_folder_info(spec) -> DataInfo:
    n = 10
    if spec.root and Path(spec.root).expanduser().is_dir():
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


@hookimpl
def gan_data_sources():
    return DATA_SOURCES
