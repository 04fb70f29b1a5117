"""Built-in graph ops: ``cat``, ``one_hot``, ``split``, ``interpolate``, ….

A plugin like any other: it registers through the ``gan_ops`` hook.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan.core.components import Op
from gan.core.hooks import hookimpl


def cat(*tensors: torch.Tensor) -> torch.Tensor:
    """Concatenate along the feature dimension (flattening each input first)."""
    return torch.cat([t.flatten(1) for t in tensors], dim=1)


def one_hot(indices: torch.Tensor, classes: int) -> torch.Tensor:
    """Class indices → float one-hot vectors."""
    return F.one_hot(indices.long(), int(classes)).float()


def flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, …) → (N, features)."""
    return x.flatten(1)


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension."""
    return torch.softmax(x, dim=-1)


def argmax(x: torch.Tensor) -> torch.Tensor:
    """Index of the largest entry of the last dimension."""
    return x.argmax(dim=-1)


def label_maps(images: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Images with each code (e.g. a one-hot label) appended as constant channels:
    (N, C, H, W) + (N, K) → (N, C + K, H, W), the conditional discriminator input of
    conv CGANs (the label "tiled" over the image)."""
    maps = codes.float()[:, :, None, None].expand(-1, -1, *images.shape[-2:])
    return torch.cat([images, maps.to(images.dtype)], dim=1)


def gaussian_noise(x: torch.Tensor, std: float, *, generator: torch.Generator) -> torch.Tensor:
    """``x`` plus N(0, std²) noise (a fresh draw per element): the GaussianNoise input
    layer of the AAE adversaries, which keeps a categorical adversary from telling
    one-hot prior samples from soft encoder outputs by their exactness alone."""
    noise = torch.randn(x.shape, generator=generator, device=generator.device)
    return x + float(std) * noise.to(device=x.device, dtype=x.dtype)


def interpolate(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    generator: torch.Generator,
    epsilon: str = "per_example",
) -> torch.Tensor:
    """Random points ``ε·a + (1 − ε)·b`` between ``a`` and ``b``, as a fresh leaf that
    requires grad: the input of a WGAN-GP gradient penalty. ``epsilon`` (set through
    the ``gradient_penalty`` loss reading the points): one ε ~ U(0, 1) per row, or
    ``"per_batch"``: one ε for the whole batch (one draw from the same stream)."""
    if epsilon not in ("per_example", "per_batch"):
        raise ValueError(f"epsilon = {epsilon!r}: use 'per_example' or 'per_batch'")
    rows = a.shape[0] if epsilon == "per_example" else 1
    eps = torch.rand(rows, generator=generator, device=generator.device).to(a.device)
    eps = eps.view(-1, *([1] * (a.dim() - 1)))
    return (eps * a.detach() + (1 - eps) * b.detach()).requires_grad_(True)


def split(x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Feature columns ``start:stop`` of a (N, F) tensor (e.g. one code of a Q head)."""
    return x[:, int(start) : int(stop)]


@hookimpl
def gan_ops():
    return [
        Op("cat", cat),
        Op("one_hot", one_hot),
        Op("flatten", flatten),
        Op("softmax", softmax),
        Op("argmax", argmax),
        Op("split", split),
        Op("label_maps", label_maps),
        Op("gaussian_noise", gaussian_noise, random=True),
        Op("interpolate", interpolate, random=True, grad_leaf=True),
    ]
