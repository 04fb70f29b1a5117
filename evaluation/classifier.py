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

VERSION = "cnn-v2"  # bump when the architecture or the recipe below changes
EPOCHS = 4
BATCH = 128
LR = 1e-3  # Adam, cosine-decayed to 0 over the epochs
MAX_SHIFT = 1  # pixels, per image
# cnn-v1 (no BatchNorm, one shift of ±2 px per batch, constant lr, 3 epochs) judged MNIST
# test at 98.3%; the sample-quality targets need a judge at ≥ 99%. Measured on MNIST
# (50,000 train, the 10,000 test images): + cosine lr, per-image shifts ±2, dropout,
# 4 epochs: 98.9%; + BatchNorm, no shifts: 99.1%; + BatchNorm, shifts ±1: 99.3%.


class DataClassifier(nn.Module):
    """conv32-BN-pool, conv64-BN-pool, FC128 (the features), dropout, FC(classes);
    works from 8×8 up."""

    def __init__(self, channels: int, side: int, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (side // 4) ** 2, 128),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(128, classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def data_key(images: torch.Tensor, labels: torch.Tensor, classes: int) -> str:
    h = hashlib.sha256()
    h.update(
        f"{VERSION}|{EPOCHS}|{BATCH}|{LR}|{MAX_SHIFT}|{classes}|{tuple(images.shape)}".encode()
    )
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    h.update(labels.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def train_classifier(
    images: torch.Tensor, labels: torch.Tensor, classes: int, seed: int = 0, quiet: bool = False
) -> DataClassifier:
    """Adam with a cosine-decayed rate, a few epochs, per-image shifts of ±1 px;
    99.3% on MNIST test in a few minutes on 2 cores."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = DataClassifier(images.shape[1], images.shape[-1], classes)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    n = len(images)
    total = EPOCHS * (n // BATCH)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))
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
            sched.step()
        if not quiet:
            print(
                f"eval classifier: epoch {epoch + 1}/{EPOCHS} ({time.perf_counter() - start:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
    return net.eval()


def shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = MAX_SHIFT) -> torch.Tensor:
    """Each image translated by its own random offset of up to ``max_shift`` pixels,
    filling with the background (the batch's minimum); small images are left alone."""
    if x.shape[-1] < 16:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=float(x.min()))
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # (B, 1, W)
    picked = padded.permute(0, 2, 3, 1)[torch.arange(b)[:, None, None], rows, cols]
    return picked.permute(0, 3, 1, 2).contiguous()


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
    recipe = json.dumps([VERSION, EPOCHS, BATCH, LR, MAX_SHIFT])
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
