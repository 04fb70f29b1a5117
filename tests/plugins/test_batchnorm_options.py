"""BatchNorm options (affine, eps, momentum), per-channel BatchNorm after a generator's
reshape, and the output layers' own initialisation (``last_init``)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan.api import BuildContext, Network
from gan.plugins.blocks import batch_norm
from gan.plugins.conv import (
    ConvDiscriminator,
    ConvDiscriminatorParams,
    ConvGenerator,
    ConvGeneratorParams,
)

CTX = BuildContext(image_shape=(1, 28, 28), num_classes=10)


def test_affine_choices_and_tf_decay():
    full, none, shift = (batch_norm(4, affine=a) for a in (True, False, "shift"))
    assert full.weight is not None and full.bias is not None
    assert none.weight is None and none.bias is None
    assert shift.weight is None and shift.bias is not None
    assert [n for n, _ in shift.named_parameters()] == ["bias"]
    # TF decay d = 0.999 is PyTorch momentum 1 − d: one batch moves the mean by 0.001·μ
    bn = batch_norm(3, eps=1e-3, momentum=1 - 0.999, affine="shift")
    x = torch.randn(64, 3) + 5.0
    y = bn(x)
    torch.testing.assert_close(bn.running_mean, 0.001 * x.mean(0))
    expected = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-3)
    torch.testing.assert_close(y, expected)  # β = 0, no γ: a pure normalisation
    cumulative = batch_norm(3, momentum=None)
    cumulative(x)
    cumulative(x + 2.0)
    torch.testing.assert_close(cumulative.running_mean, x.mean(0) + 1.0)  # mean of both


def _generator(**kw) -> ConvGenerator:
    return ConvGenerator(ConvGeneratorParams(in_features=6, fc=[8], channels=[4, 2], **kw), CTX)


def test_generator_batchnorm_per_channel_after_the_reshape():
    per_feature = _generator()
    per_channel = _generator(reshape_batchnorm="channels", batchnorm_affine="shift")
    assert isinstance(per_feature.fc[-2], nn.BatchNorm1d)
    assert per_feature.fc[-2].num_features == 4 * 7 * 7
    assert isinstance(per_channel.fc[-1], nn.Linear)
    norm = per_channel.reshaped[0]
    assert isinstance(norm, nn.BatchNorm2d) and norm.num_features == 4 and norm.weight is None
    # in training mode each channel of the reshaped tensor is normalised over (N, H, W)
    h = per_channel.fc(torch.randn(16, 6)).view(16, *per_channel.start)
    out = norm(h)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)
    assert not torch.allclose(out.mean(dim=0), torch.zeros(4, 7, 7), atol=1e-3)
    assert per_channel(torch.randn(5, 6)).shape == (5, 1, 28, 28)
    # the default keeps the module layout (and so the checkpoints) of before
    assert list(per_feature.reshaped) == []


def test_last_init_xavier_on_heads_only():
    def disc(how: str) -> ConvDiscriminator:
        torch.manual_seed(0)
        p = ConvDiscriminatorParams(channels=[4, 8], fc=[256], heads=[30, 10], last_init=how)
        return ConvDiscriminator(p, CTX)

    same, xavier = disc("same"), disc("xavier_uniform")
    for head in xavier.heads:
        bound = math.sqrt(6 / (head.in_features + head.out_features))
        assert head.weight.detach().abs().max() <= bound and head.weight.detach().std() > 0.05
        assert torch.count_nonzero(head.bias) == 0
    for head in same.heads:
        assert float(head.weight.detach().std()) == pytest.approx(0.02, rel=0.2)  # N(0, 0.02)
    torch.testing.assert_close(same.body[0].weight, xavier.body[0].weight)  # body untouched


def test_plugin_networks_take_the_options():
    from gan.core.registry import default_registry
    from gan.core.resolve import validate_params

    registry = default_registry()
    options = {"batchnorm_affine": False, "batchnorm_eps": 1e-8, "batchnorm_momentum": "none"}
    for name, extra in [
        ("bigan.generator", {"hidden": 16}),
        ("bigan.encoder", {"hidden": 16}),
        ("bigan.discriminator", {"hidden": 16}),
        ("infogan.discriminator", {"channels": [4, 8], "fc": [16], "q_hidden": 8}),
        ("clustergan.generator", {"fc": [16], "channels": [8, 4]}),
        ("cgan.generator", {"hidden": [8, 16]}),
        ("aae.encoder", {"hidden": 16}),
        ("mlp", {"in_features": 4, "hidden": [8, 8], "batchnorm": True}),
    ]:
        comp = registry.get(Network, name, "t")
        net = comp.factory(validate_params(comp, {**options, **extra}, "t"), CTX)
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        assert norms, name
        for m in norms:
            assert (m.weight, m.bias, m.eps, m.momentum) == (None, None, 1e-8, None), name
