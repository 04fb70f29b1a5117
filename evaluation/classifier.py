"""The judge of sample quality: a small classifier of the spec's own data, trained by
``gan`` (no download), cached as safetensors.

It plays the role Inception plays for FID, at MNIST scale: its class predictions give
the conditional accuracy of generated samples, and its penultimate layer (128 features)
is the feature space of the Fréchet distance we report. That distance is *not* the
Inception FID of the literature and must not be compared with it.

The cache key hashes the training images and labels, the architecture version and the
training recipe, so a changed dataset or recipe retrains instead of reusing a stale
judge. A missing or unreadable cache file is simply retrained.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from gan.core.data import cache_dir
from gan.core.errors import CheckpointError
from gan.training import checkpoint

VERSION = "cnn-v1"  # bump when the architecture or the recipe below changes
EPOCHS = 3
BATCH = 128
LR = 1e-3


class DataClassifier(nn.Module):
    """conv32-pool, conv64-pool, FC128 (the features), FC(classes); works from 8×8 up."""

    def __init__(self, channels: int, side: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (side // 4) ** 2, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def data_key(images: torch.Tensor, labels: torch.Tensor, classes: int) -> str:
    h = hashlib.sha256()
    h.update(f"{VERSION}|{EPOCHS}|{BATCH}|{LR}|{classes}|{tuple(images.shape)}".encode())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    h.update(labels.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def train_classifier(
    images: torch.Tensor, labels: torch.Tensor, classes: int, seed: int = 0, quiet: bool = False
) -> DataClassifier:
    """Adam, a few epochs, light random shifts; ~99% on MNIST test in a minute or two."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = DataClassifier(images.shape[1], images.shape[-1], classes)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    n = len(images)
    start = time.perf_counter()
    net.train()
    for epoch in range(EPOCHS):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n - BATCH + 1, BATCH):
            idx = order[i : i + BATCH]
            x = shift(images[idx], gen)
            loss = F.cross_entropy(net(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if not quiet:
            print(
                f"eval classifier: epoch {epoch + 1}/{EPOCHS} ({time.perf_counter() - start:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    return net.eval()


def shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (one shift per batch)."""
    if x.shape[-1] < 16:
        return x
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


def load_or_train(
    images: torch.Tensor, labels: torch.Tensor, classes: int, quiet: bool = False
) -> DataClassifier:
    """The cached classifier for this exact training data, trained if missing."""
    key = data_key(images, labels, classes)
    path = cache_dir() / "classifiers" / f"{key}.safetensors"
    net = DataClassifier(images.shape[1], images.shape[-1], classes)
    if path.is_file():
        try:
            tensors, meta = checkpoint.load(path)
            if meta.get("key") == key:
                net.load_state_dict(tensors)
                return net.eval()
        except Exception:  # a damaged cache file is retrained, never fatal
            pass
    net = train_classifier(images, labels, classes, quiet=quiet)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    recipe = json.dumps([VERSION, EPOCHS, BATCH, LR])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.save(path, state, {"key": key, "recipe": recipe})
    except (OSError, CheckpointError):  # the cache only saves time: never fatal
        print(
            f"warning: cannot cache the eval classifier in '{path}' (not a writable file); "
            f"it will be trained again next time. Set GAN_CACHE to a writable folder.",
            file=sys.stderr,
            flush=True,
        )
    return net


@torch.no_grad()
def predict(
    net: DataClassifier, images: torch.Tensor, batch: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, logits) of ``images`` (already in the spec's pixel range), float32."""
    feats, logits = [], []
    for i in range(0, len(images), batch):
        f = net.features(images[i : i + batch].float().cpu())
        feats.append(f)
        logits.append(net.head(f))
    return torch.cat(feats), torch.cat(logits)
