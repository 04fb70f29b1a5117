"""What the papers' recipes need from the engine: learning-rate schedules equal to
torch's own schedulers step for step (and across a resume), a validation split that is
disjoint from training and the same every time, and the conv CGAN's one-step fidelity."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from gan.core.data import load_split, validation_indices
from gan.core.resolve import resolve
from gan.core.spec import load_spec
from gan.testing import assert_same_parameters, record_step, tiny_engine
from gan.training import state


def _rates(engine, steps: int, phase: str = "discriminator") -> list[float]:
    rates = []
    for _ in range(steps):
        rates.append(engine.optimizers[phase].param_groups[0]["lr"])
        engine.step()
    return rates


def _torch_rates(make, steps: int, lr: float = 2e-4) -> list[float]:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_linear_decay_equals_torch_schedulers_step_for_step() -> None:
    schedule = "{type='linear_decay', hold=3, decay=5, end_factor=0.0}"
    engine = tiny_engine("bigan", f"phases.discriminator.schedule={schedule}")
    got = _rates(engine, 10)

    def make(opt):
        hold = lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=3)
        ramp = lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=5)
        return lr_scheduler.SequentialLR(opt, [hold, ramp], milestones=[3])

    expected = _torch_rates(make, 10)
    assert got == expected
    assert got[:4] == [2e-4] * 4 and got[-1] == 0.0  # held, then down to zero


def test_a_phase_that_starts_late_follows_the_step_counter_without_a_warning() -> None:
    schedule = "{type='multistep', milestones=[2], gamma=0.1}"
    engine = tiny_engine(
        "bigan",
        f"phases.discriminator.schedule={schedule}",
        "phases.discriminator.start=3",
        "phases.generator.simultaneous=false",  # the official BiGAN steps both together
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's scheduler-order warning would fail here
        got = _rates(engine, 5)
    assert got[:2] == [2e-4] * 2  # the phase first runs at step 3, its rate already cut
    assert all(abs(r - 2e-5) < 1e-12 for r in got[2:])


def test_later_steps_leave_the_warning_filters_alone() -> None:
    """Changing the filters resets Python's "shown once" records: a warning repeated
    every step would then print every step."""
    engine = tiny_engine(
        "bigan", "phases.discriminator.schedule={type='multistep', milestones=[9]}"
    )
    engine.step()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        for _ in range(3):
            warnings.warn("the same warning each step", UserWarning, stacklevel=1)
            engine.step()
    assert len(seen) == 1


def test_multistep_in_epochs_uses_the_data_s_batches_per_epoch() -> None:
    schedule = "{type='multistep', milestones=[1], gamma=0.1, unit='epoch'}"
    engine = tiny_engine("bigan", f"phases.generator.schedule={schedule}", limit=64)
    per_epoch = engine.data.batches_per_epoch  # 64 examples / batch 16 = 4
    got = _rates(engine, per_epoch + 2, phase="generator")
    assert got[:per_epoch] == [2e-4] * per_epoch
    assert all(abs(r - 2e-5) < 1e-12 for r in got[per_epoch:])


def test_schedule_resumes_exactly() -> None:
    schedule = "{type='exponential_decay', hold=2, decay=4, end_factor=0.01}"
    overrides = (f"phases.discriminator.schedule={schedule}",)
    straight = tiny_engine("bigan", *overrides)
    expected = _rates(straight, 8)

    first = tiny_engine("bigan", *overrides)
    got = _rates(first, 5)
    tensors, meta = state.state_tensors(first)
    assert "sched.discriminator" in meta
    second = tiny_engine("bigan", *overrides)
    state.load_state_tensors(second, tensors, meta)
    got += _rates(second, 3)
    assert got == expected
    assert abs(expected[6] / expected[0] - 0.01) < 1e-9  # 0.01× after `decay` steps


def test_validation_split_is_disjoint_seeded_and_shared_by_training_seeds() -> None:
    held = validation_indices(1000, 100, seed=0)
    assert held is not None and len(held) == 100 and len(set(held.tolist())) == 100
    assert torch.equal(held, validation_indices(1000, 100, seed=0))  # same every time
    assert not torch.equal(held, validation_indices(1000, 100, seed=1))
    assert len(validation_indices(600, 1 / 6, seed=0)) == 100  # a fraction
    assert validation_indices(1000, 0, seed=0) is None
    # "first": the first ones in the source's order (TF's reader), whatever the seed
    assert torch.equal(validation_indices(1000, 100, seed=3, pick="first"), torch.arange(100))

    def split(name: str, *extra: str):
        model = resolve(load_spec("bigan", ["data.source=digits", "data.val=300", *extra]))
        return load_split(model.data_source, model.spec.data, name)

    train_x, _ = split("train")
    val_x, _ = split("val")
    assert len(train_x) + len(val_x) == 1437  # the digits source's training split
    # the split does not move with the training seed
    assert torch.equal(split("val", "train.seed=7")[0], val_x)
    first_x, _ = split("val", 'data.val_pick="first"')
    whole, _ = split("train", "data.val=0")
    assert torch.equal(first_x, whole[:300]) and not torch.equal(first_x, val_x)
    assert torch.equal(split("train", 'data.val_pick="first"')[0], whole[300:])


def test_training_batches_never_contain_validation_examples() -> None:
    engine = tiny_engine("bigan", "data.val=300", limit=100_000)
    model = engine.model
    val_x, _ = load_split(model.data_source, model.spec.data, "val")
    assert len(engine.data.images) == 1437 - 300
    from gan.core.data import scale

    val_scaled = scale(val_x, model.spec.data.range).flatten(1)
    train = engine.data.images.flatten(1)
    # no training row equals a held-out row (digits has no exact duplicates across them)
    dists = torch.cdist(val_scaled, train)
    assert float(dists.min()) > 0


def test_conv_cgan_step_equals_hand_written_pytorch() -> None:
    engine = tiny_engine("cgan_conv")
    rec = record_step(engine)
    G, D = rec.initial["G"], rec.initial["D"]
    src = rec.sources[0]
    x, y, z, c = src["x"], src["y"], src["z"], src["c"]
    assert torch.equal(c, y)  # CGAN.py: the fakes ask for the real batch's labels
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    torch.set_rng_state(rec.rng_state)

    def with_labels(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        maps = F.one_hot(labels, 10).float()[:, :, None, None]
        return torch.cat([images, maps.expand(-1, -1, *images.shape[-2:])], dim=1)

    x_fake = G(torch.cat([z, F.one_hot(c, 10).float()], dim=1))
    opt_d.zero_grad()
    d_real = D(with_labels(x, y))
    d_fake = D(with_labels(x_fake.detach(), c))
    d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    d_loss = d_loss + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    d_loss.backward()
    opt_d.step()

    opt_g.zero_grad()
    d_fake = D(with_labels(x_fake, c))
    F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake)).backward()
    opt_g.step()

    assert_same_parameters(engine.networks, rec.initial)
