"""Image grids of a trained engine, as the spec's ``[sample]`` section describes them.

* the sample grid: random draws, or — with ``rows = "<categorical sampler>"`` — one row
  per class/cluster, the other latents varying along the row;
* traversals (``traverse = "<continuous sampler>"``): one grid per dimension of that
  code, the dimension swept across its range along each row, everything else fixed;
* reconstructions (``reconstruction = "<node>"``): real inputs with their
  reconstructions in the row below.

Grids draw from a generator of their own, so drawing them never moves the training
stream and the same seed gives the same grid at every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from gan.core.engine import Engine

TRAVERSE_STEPS = 10


@dataclass
class Grid:
    """Images (N, C, H, W) laid out ``nrow`` per row, with a file-name suffix."""

    images: torch.Tensor
    nrow: int
    suffix: str = ""


def _categories(engine: Engine, sampler: str) -> int:
    params = engine.model.samplers[sampler].params
    return getattr(params, "classes", None) or engine.model.context.num_classes


def _range(engine: Engine, sampler: str) -> tuple[float, float]:
    """The sweep of a traversal: the sampler's bounds, or ±2σ for a Gaussian."""
    p = engine.model.samplers[sampler].params
    if hasattr(p, "low") and hasattr(p, "high"):
        return float(p.low), float(p.high)
    mean, std = float(getattr(p, "mean", 0.0)), float(getattr(p, "std", 1.0))
    return mean - 2 * std, mean + 2 * std


def _render(engine: Engine, node: str, sources: dict[str, torch.Tensor]) -> torch.Tensor:
    with engine.eval_mode():
        out = engine.compute([node], dict(sources))[node].float()
    return out.reshape(len(out), *engine.model.context.image_shape).cpu()


def _real_batch(images: torch.Tensor, labels: torch.Tensor, n: int, device) -> dict:
    idx = torch.arange(n) % len(images)
    return {"x": images[idx].to(device), "y": labels[idx].to(device)}


def sample_grid(engine: Engine, images, labels, n: int, gen: torch.Generator) -> Grid:
    """The main grid: ``n`` samples, one row per category when ``rows`` is set."""
    spec = engine.model.spec.sample
    assert spec.node is not None, "[sample] node is required to draw grids"
    if spec.rows is None:
        sources = engine.draw_sources(_real_batch(images, labels, n, engine.device), gen)
        return Grid(_render(engine, spec.node, sources), max(1, math.isqrt(n)))
    k = _categories(engine, spec.rows)
    cols = max(4, n // k)
    sources = engine.draw_sources(_real_batch(images, labels, k * cols, engine.device), gen)
    sources[spec.rows] = torch.arange(k, device=engine.device).repeat_interleave(cols)
    return Grid(_render(engine, spec.node, sources), cols)


def traversal_grids(engine: Engine, images, labels, gen: torch.Generator) -> list[Grid]:
    """One grid per dimension of the ``traverse`` code."""
    spec = engine.model.spec.sample
    if spec.traverse is None:
        return []
    rows = _categories(engine, spec.rows) if spec.rows is not None else 10
    steps = TRAVERSE_STEPS
    base = engine.draw_sources(_real_batch(images, labels, rows, engine.device), gen)
    base = {k: v.repeat_interleave(steps, dim=0) for k, v in base.items()}
    if spec.rows is not None:
        base[spec.rows] = torch.arange(rows, device=engine.device).repeat_interleave(steps)
    code = base[spec.traverse]
    lo, hi = _range(engine, spec.traverse)
    sweep = torch.linspace(lo, hi, steps, device=engine.device).repeat(rows)
    grids = []
    for d in range(code.shape[1]):
        sources = dict(base)
        value = torch.zeros_like(code)  # the other dimensions held at the centre
        value[:, d] = sweep
        sources[spec.traverse] = value
        node = spec.node or ""
        grids.append(Grid(_render(engine, node, sources), steps, f"-{spec.traverse}{d}"))
    return grids


def reconstruction_grid(engine: Engine, images, labels, n: int, gen) -> Grid | None:
    """Inputs and their reconstructions, alternating rows of eight."""
    spec = engine.model.spec.sample
    if spec.reconstruction is None:
        return None
    cols = 8
    m = max(cols, (n // 2) // cols * cols)
    sources = engine.draw_sources(_real_batch(images, labels, m, engine.device), gen)
    rec = _render(engine, spec.reconstruction, sources)
    real = sources["x"].float().reshape(rec.shape).cpu()
    pairs = torch.stack([real.view(-1, cols, *rec.shape[1:]), rec.view(-1, cols, *rec.shape[1:])])
    return Grid(pairs.transpose(0, 1).reshape(-1, *rec.shape[1:]), cols, "-reconstruction")


def all_grids(engine: Engine, images, labels, n: int, seed: int) -> list[Grid]:
    """Every grid the spec declares (what `gan sample` writes)."""
    gen = torch.Generator(engine.sampler_generator.device).manual_seed(seed)
    grids = [sample_grid(engine, images, labels, n, gen)]
    grids += traversal_grids(engine, images, labels, gen)
    rec = reconstruction_grid(engine, images, labels, n, gen)
    return grids + ([rec] if rec is not None else [])


def save_grid(grid: Grid, path: Path, value_range: tuple[float, float]) -> Path:
    from torchvision.utils import save_image

    save_image(grid.images, path, nrow=grid.nrow, normalize=True, value_range=value_range)
    return path
