"""Multi-process training: one process per device, started by ``torchrun``.

Nothing here knows a model. Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment)
:func:`context_from_env` joins the process group (NCCL on GPUs, gloo on CPUs) and gives
each rank its device; :func:`prepare_engine` makes every rank start from rank 0's weights
and attaches a :class:`GradientSync`, which the engine calls between ``backward()`` and
``optimizer.step()`` of every phase. See docs/distributed.md for why the gradients are
averaged explicitly instead of by wrapping networks in ``DistributedDataParallel``.

Only rank 0 touches the run folder; the trainer asks :meth:`Context.on_main` for
anything rank 0 decides (the run folder, the checkpoint to resume from) so that every
rank acts on the same decision, and the same error, at the same step.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from gan.core.device import pick_device, seed_everything
from gan.core.engine import Engine
from gan.core.errors import GanError, SpecError

T = TypeVar("T")

# Gradients averaged per collective. GAN networks fit in one bucket, so a phase costs one
# all-reduce; larger models are split so the flat copy stays bounded.
BUCKET_BYTES = 256 * 2**20
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise GanError(
            f"The environment variable {name}={raw!r} is not a whole number. It is set by "
            f"torchrun; launch with `torchrun … -m gan run …` or `gan run --nproc N`."
        ) from None


def env_world_size() -> int:
    """The number of processes torchrun started (1 outside torchrun)."""
    return _env_int("WORLD_SIZE", 1)


@dataclass
class Context:
    """This process's place in the run: its rank among ``world_size`` and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    owns_group: bool = False  # this process started the group, so it also ends it

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only rank that writes the run folder and prints."""
        return self.rank == 0

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (pickled between our own processes only)."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and hand its result, or its error, to every rank.

        A user error then stops all ranks with the same message, instead of leaving the
        other ranks waiting in a collective for a rank that has gone.
        """
        if not self.distributed:
            return fn()
        outcome: tuple[str, object] | None = None
        if self.is_main:
            try:
                outcome = ("ok", fn())
            except GanError as exc:
                outcome = ("error", exc)
            except Exception as exc:
                self.broadcast(("crash", f"{type(exc).__name__}: {exc}"))
                raise
        kind, value = self.broadcast(outcome)  # type: ignore[misc]
        if kind == "error":
            raise self.shared(value)  # type: ignore[arg-type]
        if kind == "crash":
            raise RuntimeError(f"rank 0 failed: {value}")
        return value  # type: ignore[return-value]

    def shared(self, error: GanError) -> GanError:
        """Mark an error that every rank raises at once (from a decision they share), so
        that the command line prints it on rank 0 only instead of once per process."""
        if not self.is_main:
            error.shown_by_rank_0 = True  # type: ignore[attr-defined]
        return error

    def mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise mean of ``tensor`` over all ranks."""
        if not self.distributed:
            return tensor
        out = tensor.detach().clone()
        dist.all_reduce(out)
        return out.div_(self.world_size)

    def max_int(self, value: int) -> int:
        """The largest ``value`` any rank holds (for decisions every rank must share)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def _rank_device(device_name: str, local_rank: int) -> torch.device:
    """cuda:LOCAL_RANK for GPU runs (one GPU per process), else the CPU."""
    device = pick_device(device_name)  # the usual error for 'cuda' without a GPU
    if device.type != "cuda":
        return device
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise SpecError(
            f"The process with LOCAL_RANK={local_rank} has no GPU of its own: this machine "
            f"has {count}. Start at most {count} processes per machine "
            f"(--nproc-per-node / --nproc), or train on the CPU with --device cpu."
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def context_from_env(device_name: str) -> Context:
    """The context of this process; joins the process group when torchrun started
    several processes (``WORLD_SIZE`` > 1), using NCCL on GPUs and gloo on CPUs."""
    world = env_world_size()
    if world <= 1:
        return Context(device=pick_device(device_name))
    local_rank = _env_int("LOCAL_RANK", 0)
    device = _rank_device(device_name, local_rank)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
        except (ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GanError(
                f"WORLD_SIZE={world} is set, but the {backend} process group could not start "
                f"({first}). Launch with `torchrun --nproc-per-node N -m gan run …` or "
                f"`gan run --nproc N …`, which set RANK, MASTER_ADDR and MASTER_PORT too."
            ) from None
        owns = True
    return Context(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)


@contextlib.contextmanager
def session(device_name: str) -> Iterator[Context]:
    """:func:`context_from_env` for the length of a command; leaves the group after."""
    ctx = context_from_env(device_name)
    try:
        yield ctx
        if ctx.distributed:
            # every rank leaves the group together: a rank that destroys it while a peer
            # still holds the connection can abort that peer at exit (gloo: "terminate
            # called without an active exception"). Only on success: after an error a
            # peer may be gone, and a barrier would wait for it.
            dist.barrier()
    finally:
        ctx.close()


class GradientSync:
    """Averages over all ranks the gradients of the parameters one optimizer updates.

    The engine calls :meth:`average_gradients` after each phase's ``backward()``. Every
    rank runs the same phases in the same order over the same optimizer, so the
    collectives match one for one and cannot deadlock; parameters of networks a phase
    leaves frozen are never touched. The gradients of a phase travel in one flat
    all-reduce per :data:`BUCKET_BYTES` (per dtype), not one per tensor.
    """

    def __init__(self, ctx: Context, bucket_bytes: int = BUCKET_BYTES) -> None:
        self.ctx = ctx
        self.bucket_bytes = bucket_bytes
        self._buckets: dict[int, list[list[torch.Tensor]]] = {}

    def buckets(self, optimizer: torch.optim.Optimizer) -> list[list[torch.Tensor]]:
        """The optimizer's parameters in buckets: same order and sizes on every rank."""
        key = id(optimizer)
        if key not in self._buckets:
            kinds: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
            for group in optimizer.param_groups:
                for p in group["params"]:
                    kinds.setdefault((p.dtype, p.device), []).append(p)
            buckets: list[list[torch.Tensor]] = []
            for params in kinds.values():
                bucket: list[torch.Tensor] = []
                size = 0
                for p in params:
                    nbytes = p.numel() * p.element_size()
                    if bucket and size + nbytes > self.bucket_bytes:
                        buckets.append(bucket)
                        bucket, size = [], 0
                    bucket.append(p)
                    size += nbytes
                if bucket:
                    buckets.append(bucket)
            self._buckets[key] = buckets
        return self._buckets[key]

    def average_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """Replace each gradient by its mean over the ranks (in place).

        A parameter without a gradient (not reached by this phase's loss) contributes
        zeros, so every rank sends buffers of the same size whatever its graph did, and
        it keeps ``grad = None`` (the optimizer skips it, as in a single process).
        """
        pending = []
        for bucket in self.buckets(optimizer):
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in bucket]
            flat = torch.cat([g.reshape(-1) for g in grads])
            pending.append((bucket, flat, dist.all_reduce(flat, async_op=True)))
        for bucket, flat, work in pending:
            work.wait()
            flat.div_(self.ctx.world_size)
            for p, g in zip(bucket, flat.split([p.numel() for p in bucket]), strict=True):
                if p.grad is not None:
                    p.grad.copy_(g.view_as(p.grad))

    def all_true(self, flag: torch.Tensor) -> bool:
        """Whether ``flag`` holds on every rank (one small collective)."""
        t = flag.detach().reshape(1).to(torch.int32)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())


def _convert_sync_batchnorm(engine: Engine, ctx: Context) -> None:
    with_bn = [
        name
        for name, net in engine.networks.items()
        if any(isinstance(m, BATCHNORMS) for m in net.modules())
    ]
    if not with_bn:
        return
    if ctx.device.type == "cpu":
        raise SpecError(
            f"train.sync_batchnorm = true: networks {', '.join(with_bn)} have BatchNorm "
            f"layers, but PyTorch's SyncBatchNorm runs only on GPUs and this run is on the "
            f"CPU (gloo). Set train.sync_batchnorm = false (each process then normalises "
            f"over its own batch) or train on GPUs."
        )
    for name in with_bn:
        # The converted layers keep the same Parameter objects, so the optimizers built
        # over them stay valid.
        engine.networks[name] = nn.SyncBatchNorm.convert_sync_batchnorm(engine.networks[name])


def prepare_engine(engine: Engine, ctx: Context) -> None:
    """Ready an engine for this process: SyncBatchNorm, rank 0's starting weights and
    gradient averaging when distributed; channels-last memory when the spec asks."""
    train = engine.model.spec.train
    if ctx.distributed:
        if train.sync_batchnorm:
            _convert_sync_batchnorm(engine, ctx)
        # Every rank built the same seeded networks already; broadcasting rank 0's makes
        # that true even for a factory that draws from an unseeded source (as DDP does).
        with torch.no_grad():
            for net in engine.networks.values():
                for tensor in [*net.parameters(), *net.buffers()]:
                    dist.broadcast(tensor, src=0)
        engine.sync = GradientSync(ctx)
    if train.channels_last:
        for net in engine.networks.values():
            net.to(memory_format=torch.channels_last)


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A 63-bit seed for ``rank`` starting at ``step``: distinct per rank, reproducible."""
    digest = hashlib.sha256(f"gan/{seed}/{rank}/{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def reseed(engine: Engine, ctx: Context) -> None:
    """Give each rank its own random streams (latent samplers, dropout, random ops).

    They are derived from ``(train.seed, rank, step)`` at the step the processes start
    from, fresh or resumed. A checkpoint holds rank 0's streams only, so it stays
    independent of the number of processes; a single-process run keeps using them.
    """
    if not ctx.distributed:
        return
    seed = rank_seed(engine.model.spec.train.seed, ctx.rank, engine.step_count)
    seed_everything(seed)
    engine.sampler_generator.manual_seed(seed + 1)


def launch(nproc: int, args: list[str]) -> int:
    """Run ``gan ARGS`` in ``nproc`` processes on this machine through torchrun's own
    launcher (``--standalone``: a free local port); returns the first failing exit code."""
    if env_world_size() > 1:
        raise GanError(
            f"--nproc {nproc}: this process already runs under torchrun "
            f"(WORLD_SIZE={env_world_size()}). Drop --nproc, or run `gan run --nproc` "
            f"outside torchrun."
        )
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    config = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "--module", "gan", *args]
    )
    try:
        run(config)
    except SignalException as exc:  # torchrun passed the signal on; the ranks saved
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        codes = [failure.exitcode for _, failure in sorted(exc.failures.items())]
        code = next((c for c in codes if c != 0), 1)
        return code if code > 0 else 128 - code  # killed by a signal: 128 + signal
    return 0
