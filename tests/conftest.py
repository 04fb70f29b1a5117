"""Shared fixtures: the real MNIST folder (when present) and an isolated cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import MNIST


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep derived files (decompressed IDX, classifier weights) out of the user's home."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GAN_CACHE", str(tmp_path_factory.mktemp("gan-cache")))
    yield
    mp.undo()


@pytest.fixture
def mnist_root() -> Path:
    if not (MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("real MNIST not found beside the repository (../shared/data/mnist)")
    return MNIST
