"""Which BatchNorm statistics an evaluation reads (``[eval] batchnorm``).

* ``running`` — the running statistics training accumulated (PyTorch's eval mode);
* ``batch`` — each evaluated batch's own statistics, as TF code that builds its
  BatchNorm with ``is_training=True`` everywhere (ClusterGAN's official G) or whose test
  branch cannot be used (InfoGAN's official Q);
* ``reestimate`` — the running statistics recomputed before evaluating, as a cumulative
  average over ``eval.batchnorm_batches`` training batches pushed through the training
  forward (every node a loss reads), as BiGAN's official ``--deploy_iters``.

The networks' BatchNorm buffers and momenta, the training sampler stream and the
training data stream are restored afterwards: an evaluation never changes training.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import torch
from torch import nn

from gan.core.engine import Engine


class Evaluation(Protocol):
    """What a BatchNorm mode reads of an evaluation (:class:`gan.evaluation.evaluate.
    Evaluation`), named here so that this module does not import the one that uses it."""

    @property
    def spec(self) -> Any: ...
    @property
    def engine(self) -> Engine: ...

    def data(self, split: str | None = ..., limit: int | None = ...) -> Any: ...


# The latents of a re-estimation are their own stream (not the training one).
REESTIMATE_SEED_OFFSET = 3_000_017


def norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``module`` that keep running statistics."""
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@contextlib.contextmanager
def kept_statistics(layers: list[nn.modules.batchnorm._BatchNorm]) -> Iterator[None]:
    """Restore the layers' running statistics, counters and momenta after the block."""
    saved = [
        (m, {k: v.clone() for k, v in m.named_buffers(recurse=False)}, m.momentum) for m in layers
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, buffers, momentum in saved:
                for k, v in buffers.items():
                    getattr(m, k).copy_(v)
                m.momentum = momentum


@contextlib.contextmanager
def batchnorm_mode(evaluation: Evaluation) -> Iterator[None]:
    """Inside the engine's eval mode: switch its BatchNorm layers to ``eval.batchnorm``
    for the block (see the module docstring), then restore them."""
    spec = evaluation.spec.eval
    engine = evaluation.engine
    layers = norms(engine.networks)
    if spec.batchnorm == "running" or not layers:
        yield
        return
    with kept_statistics(layers):
        if spec.batchnorm == "reestimate":
            reestimate(evaluation, layers, spec.batchnorm_batches)
        else:
            for m in layers:  # batch statistics; what they accumulate is restored
                m.train(True)
        try:
            yield
        finally:
            for m in layers:
                m.train(False)


def reestimate(
    evaluation: Evaluation, layers: list[nn.modules.batchnorm._BatchNorm], batches: int
) -> None:
    """Reset the layers' statistics and accumulate them (a cumulative average) over
    ``batches`` training batches of ``train.batch_size``, each through the nodes the
    losses read. The batches are the training split in a fixed order (cycled), the
    latents from a stream seeded by ``eval.seed``: the same at every evaluation."""
    engine = evaluation.engine
    spec = evaluation.spec
    images, labels = evaluation.data("train", limit=None)
    nodes = sorted({n for term in engine.model.losses.values() for n in term.nodes})
    gen = torch.Generator(engine.sampler_generator.device)
    gen.manual_seed(spec.eval.seed + REESTIMATE_SEED_OFFSET)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(spec.eval.seed))
    bs = min(spec.train.batch_size, len(images))
    training_stream = engine.sampler_generator.get_state()
    try:
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the re-estimation batches
            m.train(True)
        for i in range(batches):
            idx = order[torch.arange(i * bs, (i + 1) * bs) % len(images)]
            batch = {"x": images[idx].to(engine.device), "y": labels[idx].to(engine.device)}
            engine.compute(nodes, engine.draw_sources(batch, gen))
    finally:
        engine.sampler_generator.set_state(training_stream)  # random ops draw from it
        for m in layers:
            m.train(False)
