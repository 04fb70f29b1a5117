"""The judge's augmentation: each image moves on its own, over the background."""

from __future__ import annotations

import torch

from gan.evaluation.classifier import shift


def test_each_image_shifts_by_its_own_offset_within_one_pixel():
    x = torch.full((64, 1, 16, 16), -1.0)
    x[:, 0, 8, 8] = 1.0
    moved = shift(x, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape
    assert torch.all(moved.amin(dim=(1, 2, 3)) == -1.0)  # filled with the background
    where = [tuple(int(i) for i in (m[0] == 1.0).nonzero()[0]) for m in moved]
    assert all(abs(r - 8) <= 1 and abs(c - 8) <= 1 for r, c in where)
    assert len(set(where)) > 4  # per image, not one offset for the whole batch
    assert all(int((m == 1.0).sum()) == 1 for m in moved)  # nothing wraps around


def test_small_images_are_not_shifted():
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(shift(x, torch.Generator().manual_seed(0)), x)
