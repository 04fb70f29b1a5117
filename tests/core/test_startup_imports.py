"""What a `gan` command pays before it does anything: the registry loads every built-in
component, and must not load the heavy libraries only some commands use (scikit-learn
and scipy for scoring, torchvision for reading datasets), which cost seconds each."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch


def test_loading_the_registry_and_digits_imports_no_scoring_or_torchvision() -> None:
    code = (
        "import sys\n"
        "from gan.core.registry import default_registry\n"
        "default_registry()\n"
        "from gan.components.data import _resize\n"
        "import torch\n"
        "_resize(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), 28)\n"
        "print(sorted(m for m in ('sklearn', 'scipy', 'torchvision') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("size", [5, 28, 32])
def test_resize_equals_torchvisions_resize_of_uint8_images(size: int) -> None:
    from torchvision.transforms.v2 import functional as TF

    from gan.components.data import _resize

    images = torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    images = images.to(torch.uint8)
    expected = TF.resize(images, [size, size], antialias=True)
    assert torch.equal(_resize(images, size), expected)
