"""Many seeds in one process (gan.training.replicas, gan.core.stacked): a vectorised run
of K seeds is K runs of one seed each, seed by seed."""

from __future__ import annotations

import pytest
import torch

from gan.core.build import build_engine
from gan.core.data import load_data
from gan.core.engine import Engine
from gan.core.errors import SpecError
from gan.core.resolve import resolve
from gan.core.spec import load_spec
from gan.core.stacked import StackedSteps, obstacle
from gan.training.replicas import SeedBySeed, choose_form, parse_seeds

STEPS = 50
# float64 on the CPU: vmap's batched kernels sum in another order than the per-seed
# ones, so results differ by rounding only (~1e-13 after 50 Adam steps measured);
# a seed trained on another seed's streams differs by ~1e-2.
TOLERANCE = 1e-8

SMALL = [
    "data.source=digits",
    "data.image_size=8",
    "data.limit=256",
    "train.batch_size=16",
    "train.device=cpu",
    "networks.E.hidden=16",
    "networks.Dec.hidden=16",
    "networks.D.hidden=12",
    "phases.autoencoder.clip_grad_norm=0.5",
]


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def engines(seeds: list[int], *extra: str) -> list[Engine]:
    out = []
    data = None
    for seed in seeds:
        model = resolve(load_spec("aae", [*SMALL, *extra, f"train.seed={seed}"]))
        if data is None:
            images, labels = load_data(model)
            data = (images.to(torch.get_default_dtype()), labels)
        out.append(build_engine(model, "cpu", data))
    return out


def state(engine: Engine) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of every network, and every optimizer moment."""
    out = {
        f"{n}.{k}": v.detach().clone()
        for n, net in engine.networks.items()
        for k, v in net.state_dict().items()
    }
    for name, opt in engine.optimizers.items():
        for i, s in enumerate(opt.state_dict()["state"].values()):
            out.update({f"{name}.{i}.{k}": v.clone() for k, v in s.items()})
    return out


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def test_vectorised_seeds_equal_single_runs(float64) -> None:
    seeds = [0, 1, 2]
    alone = []
    for engine in engines(seeds):
        for _ in range(STEPS):
            engine.step()
        alone.append(state(engine))
    together = engines(seeds)
    stacked = StackedSteps(together)
    for _ in range(STEPS):
        stacked.step()
    gaps = [distance(state(e), a) for e, a in zip(together, alone, strict=True)]
    assert max(gaps) < TOLERANCE, gaps
    # the same seeds with seed 0's and seed 1's streams (data order, latents) swapped
    swapped = engines(seeds)
    a, b = swapped[0], swapped[1]
    a.data, b.data = b.data, a.data
    a.sampler_generator, b.sampler_generator = b.sampler_generator, a.sampler_generator
    stacked = StackedSteps(swapped)
    for _ in range(STEPS):
        stacked.step()
    assert distance(state(swapped[0]), alone[0]) > 100 * TOLERANCE
    assert distance(state(swapped[1]), alone[1]) > 100 * TOLERANCE
    assert distance(state(swapped[2]), alone[2]) < TOLERANCE  # its own streams


def test_parse_seeds() -> None:
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,2,5") == [0, 2, 5]
    assert parse_seeds("4, 0-1,4") == [4, 0, 1]
    for bad in ("", "a", "3-1", "-2", "0-100000", "1.5"):
        with pytest.raises(SpecError, match="--seeds"):
            parse_seeds(bad)


def test_seed_by_seed_is_each_seed_alone() -> None:
    alone = []
    for engine in engines([3, 4]):
        for _ in range(3):
            engine.step()
        alone.append(state(engine))
    together = engines([3, 4])
    stepper = SeedBySeed(together)
    for _ in range(3):
        stepper.step()
    assert [distance(state(e), a) for e, a in zip(together, alone, strict=True)] == [0.0, 0.0]


def test_choice_names_its_reason() -> None:
    choice, stepper = choose_form(False, engines([0, 1]))
    assert (choice.value, choice.reason) == ("seed by seed", "train.vectorize = false")
    assert isinstance(stepper, SeedBySeed)
    choice, stepper = choose_form("auto", engines([0, 1], "train.on_nan=skip"))
    assert choice.value == "seed by seed" and "on_nan" in choice.reason
    assert obstacle(engines([0])) == "a single seed"
    measured = engines([0, 1])
    before = [state(e) for e in measured]
    choice, stepper = choose_form("auto", measured)
    assert "ms vectorised vs" in choice.reason  # measured here, whichever won
    # the trial passes leave every seed as it was: weights, statistics, streams
    assert [distance(state(e), b) for e, b in zip(measured, before, strict=True)] == [0.0, 0.0]
    fresh = engines([0, 1])
    for e, f in zip(measured, fresh, strict=True):
        assert torch.equal(e.sampler_generator.get_state(), f.sampler_generator.get_state())
    assert isinstance(stepper, StackedSteps) == (choice.value == "vectorised")


def test_gradient_penalty_steps_seed_by_seed_and_says_why() -> None:
    """vmap cannot take the penalty's autograd.grad: named before any trial runs."""
    small = ["data.source=digits", "data.limit=64", "train.batch_size=8", "train.device=cpu"]
    built = []
    for seed in (0, 1):
        model = resolve(load_spec("clustergan", [*small, f"train.seed={seed}"]))
        built.append(build_engine(model, "cpu", load_data(model)))
    choice, stepper = choose_form("auto", built)
    assert choice.value == "seed by seed" and "gradient penalty" in choice.reason
    assert isinstance(stepper, SeedBySeed)


def _run(out, *extra: str, resume: bool = False) -> None:
    from gan.training.replicas import Replicas

    spec = load_spec(
        "aae",
        [*SMALL, "train.seeds=[0, 1]", "train.log_every=1", "train.checkpoint_every=2", *extra],
    )
    Replicas(spec, out, resume=resume, quiet=True).run()


def test_vectorised_resume_is_exact(tmp_path) -> None:
    from gan.training import checkpoint

    _run(tmp_path / "a", "train.steps=4", "train.vectorize=true")
    _run(tmp_path / "b", "train.steps=2", "train.vectorize=true")
    _run(tmp_path / "b", "train.steps=4", "train.vectorize=true", resume=True)
    for seed in (0, 1):
        name = f"seed_{seed}/checkpoints/{checkpoint.checkpoint_name(4)}"
        a, _ = checkpoint.load(tmp_path / "a" / name)
        b, _ = checkpoint.load(tmp_path / "b" / name)
        assert a.keys() == b.keys() and any("optim" in k for k in a)
        assert all(torch.equal(a[k], b[k]) for k in a), seed
    a0, _ = checkpoint.load(tmp_path / "a" / f"seed_0/checkpoints/{checkpoint.checkpoint_name(4)}")
    a1, _ = checkpoint.load(tmp_path / "a" / f"seed_1/checkpoints/{checkpoint.checkpoint_name(4)}")
    assert not all(torch.equal(a0[k], a1[k]) for k in a0)  # two seeds, two runs


def test_cli_seeds_leave_folders_that_compare_pools(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from gan.cli import app

    runner = CliRunner()
    sets = [a for item in [*SMALL, "train.steps=3", "train.log_every=1"] for a in ("--set", item)]
    out = tmp_path / "aae"
    result = runner.invoke(app, ["run", "aae", "--seeds", "0-2", "--out", str(out), *sets, "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["seed_0", "seed_1", "seed_2"]
    assert "seed = 2" in (out / "seed_2" / "spec.toml").read_text()
    result = runner.invoke(app, ["compare", str(out), "--json"])
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.output)["groups"]
    assert [r["seed"] for r in group["runs"]] == [0, 1, 2]
    assert group["summary"]["recon/mse"]["n"] == 3  # the final evaluation of each seed
    bad = runner.invoke(app, ["run", "aae", "--seeds", "0-x", "--out", str(tmp_path / "b")])
    assert bad.exit_code == 2 and "--seeds" in bad.output
    both = runner.invoke(app, ["run", "aae", "--seeds", "0-1", "--nproc", "2", *sets])
    assert both.exit_code == 2 and "--nproc" in both.output


# narrower layers, the same step (float64 makes the official widths slow to test)
NARROW = {
    "infogan": [
        "networks.G.fc=[64]",
        "networks.G.channels=[16, 8]",
        "networks.D.channels=[8, 16]",
        "networks.D.fc=[64]",
        "networks.D.q_hidden=16",
    ],
    "cgan_conv": [
        "networks.G.fc=[32]",
        "networks.G.channels=[8, 4]",
        "networks.D.channels=[4, 8]",
        "networks.D.fc=[16]",
    ],
}


@pytest.mark.parametrize(
    "spec",
    [
        # BatchNorm with a cumulative average (momentum none, whose factor torch reads on
        # the host) and two players stepping from one forward (simultaneous phases)
        "bigan",
        # the generator phase draws fresh latents for the same data batch (fresh = latents)
        "infogan",
        # a sampler that follows each seed's own batch labels in training (the spec's
        # samplers.c.follows = "y", as hwalsuklee CGAN.py)
        "cgan_conv",
    ],
)
def test_vectorised_official_recipes_equal_single_runs(float64, spec: str) -> None:
    """The official recipes' step features, vectorised for K = 2, equal each seed alone."""
    small = [
        "data.source=digits",
        "data.image_size=28",
        "data.limit=128",
        "train.batch_size=8",
        "train.device=cpu",
        *NARROW.get(spec, []),
    ]

    def replicas() -> list[Engine]:
        out, data = [], None
        for seed in (0, 1):
            model = resolve(load_spec(spec, [*small, f"train.seed={seed}"]))
            if data is None:
                images, labels = load_data(model)
                data = (images.to(torch.get_default_dtype()), labels)
            out.append(build_engine(model, "cpu", data))
        return out

    alone = []
    for engine in replicas():
        for _ in range(5):
            engine.step()
        alone.append(state(engine))
    together = replicas()
    assert obstacle(together) is None
    stacked = StackedSteps(together)
    for _ in range(5):
        stacked.step()
    gaps = [distance(state(e), a) for e, a in zip(together, alone, strict=True)]
    assert max(gaps) < TOLERANCE, gaps
    if spec == "bigan":
        counters = [k for k in alone[0] if k.endswith("num_batches_tracked")]
        assert counters and all(float(alone[0][k]) > 0 for k in counters)
