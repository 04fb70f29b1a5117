"""What each process of the 2-process tests runs (importable, so that
``torch.multiprocessing.spawn`` can start it), and the shared helpers of those tests.

One spawn serves all the 2-process tests: process start-up dominates their time.
"""

from __future__ import annotations

import itertools
import os
import weakref
from pathlib import Path

import torch
from safetensors.torch import save_file

from gan.core.build import build_engine
from gan.core.engine import Engine
from gan.core.errors import GanError
from gan.core.hooks import hookimpl
from gan.core.spec import Spec, load_spec, spec_from_dict
from gan.training import distributed
from gan.training.trainer import Trainer

WORLD = 2
PER_RANK = 8  # the per-rank batch B; the reference single process uses WORLD * B
EQUIVALENCE_STEPS = 3

# ClusterGAN from generic parts, shrunk: BatchNorm in G, a gradient penalty (double
# backward), a critic phase repeated with fresh batches, G and E in one phase.
TRAINER_OVERRIDES = [
    "data.source=digits",
    "data.image_size=8",
    "data.limit=256",
    "networks.G.hidden=[32, 32]",
    "networks.D.hidden=[32, 32]",
    "networks.E.hidden=[32, 32]",
    "phases.critic.repeat=2",
    f"train.batch_size={PER_RANK}",
    "train.device=cpu",
    "train.steps=4",
    "train.log_every=2",
    "train.checkpoint_every=2",
    "train.sample_every=2",
    "sample.n=16",
]


def trainer_spec(*more: str) -> Spec:
    return load_spec("clustergan_mlp", [*TRAINER_OVERRIDES, *more])


def tiny_spec(batch_size: int) -> Spec:
    """A vanilla GAN of MLPs without BatchNorm: its gradients average exactly."""
    bce = "bce_logits"
    return spec_from_dict(
        {
            "name": "tiny",
            "data": {"source": "digits", "limit": 256},
            "samplers": {"z": {"type": "normal", "dim": 8}},
            "networks": {
                "G": {"type": "mlp", "in_features": 8, "hidden": [16], "out_features": "image"},
                "D": {"type": "mlp", "in_features": "image", "hidden": [16]},
            },
            "graph": {"x_fake": "G(z)", "d_real": "D(x)", "d_fake": "D(x_fake)"},
            "losses": {
                "d_real": {"type": bce, "input": "d_real", "target": 1.0},
                "d_fake": {"type": bce, "input": "d_fake", "target": 0.0},
                "g": {"type": bce, "input": "d_fake", "target": 1.0},
            },
            "phases": [
                {
                    "name": "discriminator",
                    "updates": ["D"],
                    "optimizer": {"type": "adam", "lr": 1e-3},
                    "losses": {"d_real": 0.5, "d_fake": 0.5},
                    "repeat": 2,
                },
                {
                    "name": "generator",  # back-propagates through the frozen D
                    "updates": ["G"],
                    "optimizer": {"type": "adam", "lr": 1e-3},
                    "losses": {"g": 1.0},
                },
            ],
            "train": {"batch_size": batch_size, "device": "cpu"},
        }
    )


def tiny_engine(rank: int, world: int) -> Engine:
    """The tiny GAN on rank ``rank`` of ``world``, fed latent samples that are slices
    of one global draw per call, so any world size sees the same real and latent data."""
    per_rank = WORLD * PER_RANK // world
    spec = tiny_spec(per_rank)
    engine = build_engine(spec, torch.device("cpu"), rank=rank, world_size=world)
    this = weakref.ref(engine)  # the registry is process-wide: act on this engine only
    calls = itertools.count()

    class SharedLatents:
        @hookimpl
        def gan_sources_drawn(self, engine, values):
            if engine is not this():
                return
            gen = torch.Generator().manual_seed(next(calls))
            z = torch.randn(WORLD * PER_RANK, 8, generator=gen)
            values["z"] = z[rank * per_rank : (rank + 1) * per_rank]

    engine.model.registry.manager.register(SharedLatents())
    return engine


def parameters(engine: Engine) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": p.detach().clone()
        for name, net in engine.networks.items()
        for key, p in net.named_parameters()
    }


def worker(rank: int, port: int, folder: str) -> None:
    """One rank: a Trainer run into ``run_<rank>`` (only rank 0 may write it), a second
    run into rank 0's folder (refused), then the tiny GAN's equivalence steps; each rank
    saves its final parameters and the error it got."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD),
    )
    torch.set_num_threads(1)
    out = Path(folder)
    with distributed.session("cpu") as ctx:
        trainer = Trainer(trainer_spec(), out / f"run_{rank}", quiet=True, dist=ctx)
        trainer.run()
        save_file(parameters(trainer.engine), str(out / f"trainer_params_{rank}.safetensors"))
        try:  # the run folder now holds a run: rank 0 refuses, and every rank stops with it
            Trainer(trainer_spec(), out / "run_0", quiet=True, dist=ctx).run()
        except GanError as exc:
            shown = getattr(exc, "shown_by_rank_0", False)
            (out / f"refused_{rank}.txt").write_text(f"{shown}|{exc}")

        engine = tiny_engine(rank, WORLD)
        distributed.prepare_engine(engine, ctx)
        for _ in range(EQUIVALENCE_STEPS):
            engine.step()
        save_file(parameters(engine), str(out / f"tiny_params_{rank}.safetensors"))
