"""Factories take ``(params, ctx)``: data sources declare the ``[data]`` keys they read
and describe themselves from those params; optimizers build over an OptimizerContext.

A plugin's data source with a key of its own is registered in code (``Registry.load``
with ``extra=``), resolved from a spec and loaded, with no files involved."""

from __future__ import annotations

import types

import pytest
import torch
from helpers import SPECS

from gan.api import (
    BuildContext,
    DataContext,
    DataSource,
    Optimizer,
    OptimizerContext,
    Params,
    hookimpl,
)
from gan.core.data import load_data
from gan.core.engine import Engine
from gan.core.errors import SpecError
from gan.core.registry import Registry
from gan.core.resolve import resolve
from gan.core.spec import load_spec

SEEN: dict[str, object] = {}


class StripesParams(Params):
    image_size: int = 8
    stripes: int = 2  # a key no built-in source has


def stripes(p: StripesParams, ctx: DataContext):
    """Images of ``p.stripes`` bright rows; 4 test images, 12 training ones."""
    SEEN["data"] = (p, ctx)
    n = 4 if ctx.split == "test" else 12
    images = torch.zeros(n, 1, p.image_size, p.image_size, dtype=torch.uint8)
    images[:, :, : p.stripes] = 255
    return images, torch.arange(n) % 3


def stripes_info(p: StripesParams) -> BuildContext:
    return BuildContext((1, p.image_size, p.image_size), 3)


class SgdParams(Params):
    lr: float = 0.1


def recording_sgd(p: SgdParams, ctx: OptimizerContext) -> torch.optim.Optimizer:
    SEEN["optimizer"] = ctx
    return torch.optim.SGD(ctx.parameters, lr=p.lr)


plugin = types.ModuleType("stripes_plugin")
plugin.gan_data_sources = hookimpl(
    lambda: [DataSource("stripes", stripes, StripesParams, describe=stripes_info)]
)
plugin.gan_optimizers = hookimpl(lambda: [Optimizer("recording-sgd", recording_sgd, SgdParams)])


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(extra=[plugin], entry_points=False)


def _spec(*overrides: str):
    return load_spec(SPECS / "cgan.toml", ["data.image_size=8", *overrides])


def test_a_plugin_source_reads_its_own_key_and_describes_itself(registry):
    model = resolve(_spec("data.source=stripes", "data.stripes=3"), registry)
    assert model.context.image_shape == (1, 8, 8) and model.context.num_classes == 3
    images, labels = load_data(model, "test")
    params, ctx = SEEN["data"]
    assert params.stripes == 3 and ctx.split == "test"
    assert images.shape == (4, 1, 8, 8) and images[:, :, :3].min() == 1.0  # scaled to [-1, 1]
    assert labels.tolist() == [0, 1, 2, 0]


def test_a_key_no_source_declares_is_an_error_and_schema_keys_are_optional(registry):
    with pytest.raises(SpecError, match=r"data\.stripes: unknown key for data source 'digits'"):
        resolve(_spec("data.source=digits", "data.stripes=3"), registry)
    # data.root is a schema key: a source that reads no files ignores it
    resolve(_spec("data.source=digits", "data.root=/somewhere"), registry)


def test_a_misspelt_source_key_gets_a_did_you_mean(registry):
    with pytest.raises(SpecError, match=r"data\.stripez.*Did you mean 'stripes'"):
        resolve(_spec("data.source=stripes", "data.stripez=3"), registry)


def test_channels_is_the_cores_key_for_every_source(registry):
    model = resolve(_spec("data.source=digits", "data.channels=3"), registry)
    assert model.context.image_shape == (3, 8, 8)


def test_optimizer_factory_gets_the_parameters_and_their_device(registry):
    spec = _spec(
        "data.source=digits",
        'phases.discriminator.optimizer={type = "recording-sgd", lr = 0.05}',
    )
    engine = Engine(resolve(spec, registry), torch.device("cpu"))
    ctx = SEEN["optimizer"]
    assert isinstance(ctx, OptimizerContext) and ctx.device.type == "cpu"
    d_params = {id(p) for p in engine.networks["D"].parameters()}
    assert {id(p) for p in ctx.parameters} == d_params
    assert engine.optimizers["discriminator"].param_groups[0]["lr"] == 0.05
