"""Hand-written plain-PyTorch training loops for the five shipped models: the yardstick
the engine is measured against.

Each loop is written once, the way a PyTorch-GAN-style script would write it (separate
optimizers, explicit ``detach()``, losses built in the loop), with the math of the
corresponding spec (``specs/<model>.toml``; the fidelity tests pin the same math down
against one engine step). The loop reads its inputs through a :class:`Source`, so the
*same* loop runs in two data paths:

* :class:`ScriptSource` — the seeds' path: a torchvision ``DataLoader`` over ``MNIST``
  with per-sample ``Resize/ToTensor/Normalize``, latents drawn with numpy and copied
  into tensors, and ``.item()`` on every loss every step (the seeds print them);
* :class:`TightSource` — pre-transformed images held in memory, batches by index, torch
  samplers, no host synchronisation per step.

Networks come from gan's network factories (same architectures and initialisation as
the engine); everything else here is hand-written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan.components.data import _torchvision_root_from_idx
from gan.core.device import seed_everything
from gan.core.networks import build_network
from gan.core.resolve import ResolvedSpec
from gan.core.spec import Spec

Step = Callable[[], None]


class Source:
    """Data batches, latent draws and the per-step loss report of one data path."""

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def normal(self, n: int, dim: int, std: float = 1.0) -> torch.Tensor:
        raise NotImplementedError

    def uniform(self, n: int, dim: int, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
        raise NotImplementedError

    def randint(self, n: int, high: int) -> torch.Tensor:
        raise NotImplementedError

    def report(self, *losses: torch.Tensor) -> None:
        """What the loop does with its losses every step."""


class ScriptSource(Source):
    """The seed scripts' data path (see the module docstring)."""

    def __init__(self, mnist_folder: Path, image_size: int, batch_size: int, seed: int) -> None:
        from torchvision import datasets, transforms

        root = _torchvision_root_from_idx(mnist_folder, "MNIST")
        tf = transforms.Compose(
            [
                transforms.Resize(image_size),
                transforms.ToTensor(),
                transforms.Normalize([0.5], [0.5]),
            ]
        )
        self.dataset = datasets.MNIST(str(root), train=True, download=False, transform=tf)
        # drop_last: a partial last batch crashes the seeds' ClusterGAN; the engine drops it too
        self.loader = torch.utils.data.DataLoader(
            self.dataset, batch_size=batch_size, shuffle=True, drop_last=True
        )
        self.rng = np.random.default_rng(seed)
        self._it = self._forever()
        self.last_losses: list[float] = []

    def _forever(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self.loader

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return next(self._it)

    def normal(self, n: int, dim: int, std: float = 1.0) -> torch.Tensor:
        return torch.FloatTensor(self.rng.normal(0.0, std, (n, dim)))

    def uniform(self, n: int, dim: int, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
        return torch.FloatTensor(self.rng.uniform(low, high, (n, dim)))

    def randint(self, n: int, high: int) -> torch.Tensor:
        return torch.LongTensor(self.rng.integers(0, high, n))

    def report(self, *losses: torch.Tensor) -> None:
        self.last_losses = [loss.item() for loss in losses]

    def data_bytes(self) -> int:
        return self.dataset.data.nbytes


class TightSource(Source):
    """In-memory, pre-transformed images; index sampling; torch samplers; no host sync."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int
    ) -> None:
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(images), generator=self.gen)
        self.pos = 0

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pos + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.images), generator=self.gen)
            self.pos = 0
        idx = self.order[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.images[idx], self.labels[idx]

    def normal(self, n: int, dim: int, std: float = 1.0) -> torch.Tensor:
        return torch.randn(n, dim, generator=self.gen) * std

    def uniform(self, n: int, dim: int, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
        return torch.rand(n, dim, generator=self.gen) * (high - low) + low

    def randint(self, n: int, high: int) -> torch.Tensor:
        return torch.randint(0, high, (n,), generator=self.gen)

    def data_bytes(self) -> int:
        return self.images.nbytes + self.labels.nbytes


def adam(params, lr: float, betas: tuple[float, float], weight_decay: float = 0.0):
    """The seeds' optimizer: torch's Adam with its defaults (no foreach/fused flags)."""
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)


def bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))


def mse(pred: torch.Tensor, label: float) -> torch.Tensor:
    return F.mse_loss(pred, torch.full_like(pred, label))


# -- the five loops ------------------------------------------------------------------


def bigan(nets: dict[str, nn.Module], src: Source, spec: Spec) -> Step:
    n = spec.train.batch_size
    G, E, D = nets["G"], nets["E"], nets["D"]
    kw = {"lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 2.5e-5}
    opt_d = adam(D.parameters(), **kw)
    opt_ge = adam([*G.parameters(), *E.parameters()], **kw)

    def step() -> None:
        x, _ = src.batch()
        z = src.uniform(n, 50)
        z_enc, x_fake = E(x), G(z)
        if isinstance(z_enc, tuple):  # penultimate = true: (z, features)
            z_enc = z_enc[0]
        opt_d.zero_grad()
        d_loss = 0.5 * bce(D(x, z_enc.detach()), 1.0) + 0.5 * bce(D(x_fake.detach(), z), 0.0)
        d_loss.backward()
        opt_d.step()
        opt_ge.zero_grad()
        g_loss = 0.5 * bce(D(x, z_enc), 0.0) + 0.5 * bce(D(x_fake, z), 1.0)
        g_loss.backward()
        opt_ge.step()
        src.report(d_loss, g_loss)

    return step


def clustergan(nets: dict[str, nn.Module], src: Source, spec: Spec) -> Step:
    n = spec.train.batch_size
    n_critic = next(p.repeat for p in spec.phases if p.name == "critic")  # the seeds' option
    fresh_g = next(p.redraw for p in spec.phases if p.name == "generator") != "none"
    G, D, E = nets["G"], nets["D"], nets["E"]
    opt_d = adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_ge = adam([*G.parameters(), *E.parameters()], lr=1e-4, betas=(0.5, 0.9))

    def critic_step() -> tuple[torch.Tensor, ...]:
        x, _ = src.batch()
        zn, zc_idx = src.normal(n, 30, std=0.1), src.randint(n, 10)
        z = torch.cat([zn, F.one_hot(zc_idx, 10).float()], dim=1)
        opt_d.zero_grad()
        x_fake = G(z)
        eps = src.uniform(n, 1, 0.0, 1.0).view(n, 1, 1, 1)
        x_hat = (eps * x + (1 - eps) * x_fake.detach()).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
        gp = ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        d_loss = -D(x).mean() + D(x_fake.detach()).mean() + 10 * gp
        d_loss.backward()
        opt_d.step()
        return x_fake, zn, zc_idx, d_loss

    def step() -> None:
        for _ in range(n_critic):
            x_fake, zn, zc_idx, d_loss = critic_step()
        if fresh_g:  # the official loop draws a new z for G's update
            zn, zc_idx = src.normal(n, 30, std=0.1), src.randint(n, 10)
            x_fake = G(torch.cat([zn, F.one_hot(zc_idx, 10).float()], dim=1))
        opt_ge.zero_grad()
        zn_hat, zc_logits = E(x_fake)
        g_loss = -D(x_fake).mean() + 10 * F.mse_loss(zn_hat, zn)
        g_loss = g_loss + 10 * F.cross_entropy(zc_logits, zc_idx)
        g_loss.backward()
        opt_ge.step()
        src.report(d_loss, g_loss)

    return step


def infogan(nets: dict[str, nn.Module], src: Source, spec: Spec) -> Step:
    n = spec.train.batch_size
    G, D = nets["G"], nets["D"]
    betas = (0.5, 0.999)
    opt_d = adam(D.parameters(), lr=2e-4, betas=betas)
    opt_g = adam(G.parameters(), lr=1e-3, betas=betas)
    # the spec's information phase: G at the paper's 1e-3, D (with its Q head) at 2e-4
    opt_info = adam(
        [{"params": G.parameters(), "lr": 1e-3}, {"params": D.parameters()}], lr=2e-4, betas=betas
    )

    def step() -> None:
        x, _ = src.batch()
        z, c_cat, c_cont = src.normal(n, 62), src.randint(n, 10), src.uniform(n, 2)
        zc = torch.cat([z, F.one_hot(c_cat, 10).float(), c_cont], dim=1)
        opt_d.zero_grad()
        x_fake = G(zc)
        d_loss = bce(D(x)[0], 1.0) + bce(D(x_fake.detach())[0], 0.0)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = bce(D(x_fake)[0], 1.0)
        g_loss.backward()
        opt_g.step()
        opt_info.zero_grad()
        _, cat_logits, cont_pred = D(G(zc))
        info_loss = F.cross_entropy(cat_logits, c_cat) + 0.1 * F.mse_loss(cont_pred, c_cont)
        info_loss.backward()
        opt_info.step()
        src.report(d_loss, g_loss, info_loss)

    return step


def aae(nets: dict[str, nn.Module], src: Source, spec: Spec) -> Step:
    n = spec.train.batch_size
    E, Dec, D = nets["E"], nets["Dec"], nets["D"]
    opt_ae = adam([*E.parameters(), *Dec.parameters()], lr=2e-4, betas=(0.5, 0.999))
    opt_d = adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step() -> None:
        x, _ = src.batch()
        eps, z = src.normal(n, 10), src.normal(n, 10)
        opt_ae.zero_grad()
        z_enc = E(x, eps)[0]
        g_loss = 0.001 * bce(D(z_enc), 1.0) + 0.999 * F.l1_loss(Dec(z_enc), x)
        g_loss.backward()
        opt_ae.step()
        opt_d.zero_grad()
        with torch.no_grad():
            z_enc = E(x, eps)[0]
        d_loss = 0.5 * bce(D(z), 1.0) + 0.5 * bce(D(z_enc), 0.0)
        d_loss.backward()
        opt_d.step()
        src.report(g_loss, d_loss)

    return step


def cgan(nets: dict[str, nn.Module], src: Source, spec: Spec) -> Step:
    n = spec.train.batch_size
    G, D = nets["G"], nets["D"]
    opt_d = adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step() -> None:
        x, y = src.batch()
        z, c = src.normal(n, 100), src.randint(n, 10)
        x_fake = G(z, c)
        opt_d.zero_grad()
        d_loss = 0.5 * mse(D(x, y), 1.0) + 0.5 * mse(D(x_fake.detach(), c), 0.0)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = mse(D(x_fake, c), 1.0)
        g_loss.backward()
        opt_g.step()
        src.report(d_loss, g_loss)

    return step


LOOPS: dict[str, Callable[[dict[str, nn.Module], Source, Spec], Step]] = {
    "bigan": bigan,
    "clustergan": clustergan,
    "infogan": infogan,
    "aae": aae,
    "cgan": cgan,
}


def build(name: str, model: ResolvedSpec, src: Source) -> tuple[Step, dict[str, nn.Module]]:
    """The loop of model ``name`` over ``src``, on networks built by gan's factories
    (seeded like the engine's, so both start from the same weights)."""
    seed_everything(model.spec.train.seed)
    cpu = torch.device("cpu")
    nets = {net: build_network(model, net, cpu) for net in model.networks}
    return LOOPS[name](nets, src, model.spec), nets
