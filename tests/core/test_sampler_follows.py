"""``samplers.X.follows = "y"``: in a training step the sampler's values are the batch's
labels (a conditional GAN whose fakes are asked for the real batch's classes, as
hwalsuklee CGAN.py feeds one label placeholder to both of D's inputs); sampling and
evaluation keep the sampler's own draws."""

from __future__ import annotations

import jsonschema
import pytest
import torch

from gan.core.build import build_engine
from gan.core.errors import SpecError
from gan.core.resolve import resolve
from gan.core.schema import spec_schema
from gan.core.spec import find_spec_file, load_spec, read_spec_data, spec_from_dict
from gan.testing import record_step
from gan.tools.inspect import describe, render

SMALL = [
    "data.source=digits",
    "data.image_size=28",
    "data.limit=64",
    "train.batch_size=16",
    "train.device=cpu",
    "networks.G.fc=[32]",
    "networks.G.channels=[8, 4]",
    "networks.D.channels=[4, 8]",
    "networks.D.fc=[16]",
]


def _engine(*extra: str, follows: bool = True):
    """The conv CGAN (whose spec follows the labels, as CGAN.py) small; with ``follows``
    false, its sampler c draws in training too."""
    spec = load_spec("cgan_conv", [*SMALL, *extra])
    if not follows:
        data = spec.canonical()
        del data["samplers"]["c"]["follows"]
        spec = spec_from_dict(data)
    return build_engine(resolve(spec), torch.device("cpu"))


def test_a_following_sampler_takes_the_batch_labels_in_training_steps_only():
    engine = _engine()
    (drawn,) = record_step(engine).sources
    assert torch.equal(drawn["c"], drawn["y"])
    batch = {"x": drawn["x"], "y": drawn["y"]}
    gen = torch.Generator().manual_seed(3)
    sampled = engine.draw_sources(batch, generator=gen)  # sampling, evaluation: its draws
    assert not torch.equal(sampled["c"], sampled["y"])
    assert sampled["c"].dtype == torch.int64 and sampled["c"].max() < 10


def test_the_other_latents_are_the_draws_they_would_be_without_it():
    later = ["samplers.w.type=normal", "samplers.w.dim=3"]  # a sampler drawn after c
    (following,) = record_step(_engine(*later)).sources
    (drawing,) = record_step(_engine(*later, follows=False)).sources
    assert torch.equal(following["x"], drawing["x"])
    assert torch.equal(following["z"], drawing["z"])
    assert torch.equal(following["w"], drawing["w"])  # c still drew its own values
    assert not torch.equal(following["c"], drawing["c"])


def test_a_sampler_of_another_kind_cannot_follow_the_labels():
    engine = _engine("samplers.z.follows=y")  # z: 62 uniform floats per example
    with pytest.raises(SpecError, match=r"samplers\.z\.follows = 'y'.*float32 \(16, 62\)"):
        engine.step()


def test_follows_names_a_data_node_and_is_offered_when_misspelt():
    with pytest.raises(SpecError, match="follows"):
        load_spec("cgan_conv", [*SMALL, "samplers.c.follows=x_fake"])
    with pytest.raises(SpecError, match="Did you mean 'follows'"):
        resolve(load_spec("cgan_conv", [*SMALL, "samplers.c.folows=y"]))


def test_inspect_says_which_sampler_follows_the_batch():
    model = resolve(load_spec("cgan_conv", SMALL))  # the shipped spec follows the labels
    info = describe(model)
    assert info["samplers"]["c"]["follows"] == "y"
    assert "follows" not in info["samplers"]["z"]
    assert "c: categorical(classes=10); in training, the batch's y" in render(info)


def test_the_schema_takes_follows_on_a_sampler_and_only_a_data_node():
    schema = spec_schema()
    data = read_spec_data(find_spec_file("cgan_conv"))
    data["samplers"]["c"]["follows"] = "y"
    jsonschema.validate(data, schema)
    data["samplers"]["c"]["follows"] = "x_fake"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
