"""ClusterGAN's official MNIST training loop, transcribed to plain PyTorch: the twin.

An independent reading of sudiptodip15/ClusterGAN (TensorFlow 1; files named below),
written from that code and sharing nothing with the ``gan`` package: only torch, numpy,
scikit-learn (the official evaluation's k-means and scores), safetensors (its state
between sittings) and the MNIST IDX files. It
exists so that the engine's ClusterGAN (``specs/clustergan.toml``) can be compared with
the official recipe step for step, on the same seeds and generator steps:

    python bench/reference/clustergan_official.py --seed 0 --steps 3000 \
        --eval-every 250 --out bench/runs/twin/clustergan_s0.jsonl

What is transcribed, and from where:

* Networks (``mnist/clus_wgan.py``). G: FC1024-BN-ReLU → FC(7·7·128) → reshape → BN-ReLU
  → deconv64 4×4 s2-BN-ReLU → deconv1 4×4 s2 → sigmoid. D: conv64 4×4 s2-LReLU(0.2) →
  conv128 4×4 s2-LReLU → FC1024-LReLU → FC1. E: D's body → FC(30 + 10), split into ẑ_n
  and the ẑ_c logits. Padding 'SAME' (``tc.layers`` default) = padding 1 here. Weights
  N(0, 0.02) (``random_normal_initializer(stddev=0.02)``) except the last FC of D and E,
  which pass no initializer: ``fully_connected``'s default, Glorot-uniform. Biases 0.
* G's BatchNorm is ``tc.layers.batch_norm(x)`` with every default: ``center=True,
  scale=False`` (a learnt shift β, no γ), ``epsilon=0.001``, ``is_training=True`` (batch
  statistics, always), ``decay=0.999`` for moving averages that only a run of
  ``UPDATE_OPS`` would update — and the train ops never run them, nor is G ever used in
  inference mode. So here: batch statistics, eps 1e-3, a shift and no scale, no running
  statistics. After the reshape, the normalisation is per channel (of 128).
* The layers' ``l2_regularizer(2.5e-5)`` never reaches a loss (``g_loss`` in
  ``Image_ClusterGAN.py`` does not add ``tf.losses.get_regularization_loss()``): none.
* Latents (``util.py`` ``sample_Z``, sampler 'one_hot'): z = [0.10·N(0, I_30),
  one_hot(U{0..9})], fresh for every critic step and again for the generator step.
* Losses (``Image_ClusterGAN.py`` ``clusGAN.__init__``): the critic minimises
  mean D(x) − mean D(G(z)) + 10·mean((‖∇D(x̂)‖ − 1)²), x̂ = εx + (1 − ε)G(z) with ONE
  ε ~ U(0, 1) per batch (``tf.random_uniform([])``); G and E minimise mean D(G(z)) +
  β_n·mean((z_n − ẑ_n)²) + β_c·mean CE(ẑ_c logits, z_c), β_n = β_c = 10. (The critic
  scores fakes high: the same objective as WGAN-GP's with the sign flipped.)
* Optimisers: Adam(1e-4, β = (0.5, 0.9)) for D and one for G+E together. TF's Adam adds
  its ε (1e-8) to the un-corrected √v where torch adds it to the corrected one: an
  effective ε smaller by √(1 − β₂ᵗ), negligible at 1e-8; torch's Adam is used.
* Schedule (``clusGAN.train``): per generator step, 5 critic steps (``d_iters = 5``),
  each on a new batch of 64 (``--bs``), then one G+E step on fresh latents.
* Data (``mnist/__init__.py``: ``input_data.read_data_sets``): pixels /255 in [0, 1];
  the first 5,000 training images are validation, the other 55,000 train;
  ``next_batch`` shuffles every epoch (a batch that crosses an epoch's end takes the
  old epoch's rest and the new one's start).
* Evaluation (``clusGAN.recon_enc`` / ``_eval_cluster``): features [ẑ_n, softmax(ẑ_c)]
  of real images, ``KMeans(n_clusters=10, random_state=0)`` (the official era's
  scikit-learn ran 10 initialisations: ``n_init=10`` here), then purity
  (``metric.compute_purity``), NMI and ARI. The official script scores the final
  checkpoint once on validation and then on test; here validation is scored every
  ``--eval-every`` steps (a curve), the best validation purity selects a checkpoint and
  the test split is read once, for it (and once for the final one, the official's).
  The argmax of ẑ_c (``cluster/purity``) is recorded beside it.

Output: one JSON line per evaluation ({"step", "split": "val", "kmeans/purity",
"kmeans/nmi", "kmeans/ari", "cluster/purity", "seconds"}), then a last line with
"test" (the selected checkpoint's), "test_final" and "selected_step".

Long runs span several sittings (3,000 steps are ~3.5 hours on one CPU core):
``--max-minutes M`` stops after the generator step that passes M minutes (a last line
``{"stopped": true, "step": …}`` says where), and every
evaluation and stop writes the whole state (networks, both Adams, the numpy and torch
generators, the reader's permutation and place, the best encoder) to
``OUT.state.safetensors`` (no pickle); ``--resume`` continues from it, and the curve it
writes is the one an uninterrupted run writes (tests/test_reference_twin.py).
Layout differences that change no distribution: NCHW here (NHWC there), so a flatten or
reshape orders features differently; this permutes weights drawn i.i.d.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

DIM_GEN, CLASSES, BATCH = 30, 10, 64  # --dz, --K, --bs defaults of Image_ClusterGAN.py
BETA_N = BETA_C = 10.0  # --beta_n, --beta_c defaults
D_ITERS = 5  # clusGAN.train: d_iters
GP_SCALE = 10.0  # clusGAN.__init__: scale
ADAM = {"lr": 1e-4, "betas": (0.5, 0.9)}
VALIDATION = 5000  # read_data_sets' validation_size default
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"


# -- data ---------------------------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip or plain) as a numpy array: magic (2 zero bytes, dtype code,
    number of dimensions), big-endian dimension sizes, then the data."""
    raw = path.read_bytes()
    raw = gzip.decompress(raw) if path.suffix == ".gz" else raw
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(shape)


def load_mnist(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train (55,000) / val (first 5,000 training images) / test, pixels in [0, 1]."""

    def pair(prefix: str) -> tuple[np.ndarray, np.ndarray]:
        found = []
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            names = [folder / f"{prefix}-{kind}{s}" for s in (".gz", "")]
            path = next((p for p in names if p.is_file()), None)
            if path is None:
                raise SystemExit(f"no {prefix}-{kind}[.gz] in {folder}; pass --data FOLDER")
            found.append(read_idx(path))
        images, labels = found
        return images.reshape(len(images), 1, 28, 28).astype(np.float32) / 255.0, labels

    x, y = pair("train")
    return {
        "train": (x[VALIDATION:], y[VALIDATION:]),
        "val": (x[:VALIDATION], y[:VALIDATION]),
        "test": pair("t10k"),
    }


def synthetic(rng: np.random.RandomState) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tiny stand-in data (a bright square whose place is the label) for --synthetic."""

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.randint(0, CLASSES, n)
        x = rng.rand(n, 1, 28, 28).astype(np.float32) * 0.1
        for i, label in enumerate(y):
            r, c = divmod(int(label), 4)
            x[i, 0, 2 + 6 * r : 8 + 6 * r, 2 + 6 * c : 8 + 6 * c] = 1.0
        return x, y

    return {"train": make(256), "val": make(128), "test": make(128)}


class Batches:
    """``DataSet.next_batch`` of TF's MNIST reader: a new permutation every epoch, and a
    batch that crosses an epoch's end joins the old epoch's rest to the new one's start."""

    def __init__(self, x: np.ndarray, rng: np.random.RandomState) -> None:
        self.x, self.rng = x, rng
        self.order = rng.permutation(len(x))
        self.pos = 0

    def next(self, n: int, device: torch.device | str = "cpu") -> torch.Tensor:
        if self.pos + n > len(self.x):
            rest = self.order[self.pos :]
            self.order = self.rng.permutation(len(self.x))
            self.pos = n - len(rest)
            idx = np.concatenate([rest, self.order[: self.pos]])
        else:
            idx = self.order[self.pos : self.pos + n]
            self.pos += n
        return torch.from_numpy(self.x[idx]).to(device)


def sample_z(
    n: int, rng: np.random.RandomState, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """util.sample_Z(sampler='one_hot'): (z = [0.10·N(0, I), one-hot], cluster index)."""
    idx = rng.randint(0, CLASSES, n)
    z = np.hstack((0.10 * rng.randn(n, DIM_GEN), np.eye(CLASSES)[idx]))
    return torch.from_numpy(z).float().to(device), torch.from_numpy(idx).long().to(device)


# -- networks (mnist/clus_wgan.py) --------------------------------------------------------


class ShiftOnlyBatchNorm(nn.Module):
    """tc.layers.batch_norm's defaults in training mode: batch statistics (per feature,
    or per channel of a 4-d input), eps 1e-3, a learnt shift β and no scale γ."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(features))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = F.batch_norm(h, None, None, training=True, eps=1e-3)
        shape = (1, -1) + (1,) * (h.dim() - 2)
        return h + self.beta.view(shape)


def normal_(layer: nn.Module) -> nn.Module:
    """random_normal_initializer(stddev=0.02) weights, zero biases."""
    nn.init.normal_(layer.weight, 0.0, 0.02)
    nn.init.zeros_(layer.bias)
    return layer


def xavier_(layer: nn.Linear) -> nn.Linear:
    """fully_connected's default: xavier_initializer() (Glorot uniform), zero biases."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Generator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = normal_(nn.Linear(DIM_GEN + CLASSES, 1024))
        self.bn1 = ShiftOnlyBatchNorm(1024)
        self.fc2 = normal_(nn.Linear(1024, 7 * 7 * 128))
        self.bn2 = ShiftOnlyBatchNorm(128)
        self.deconv1 = normal_(nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1))
        self.bn3 = ShiftOnlyBatchNorm(64)
        self.deconv2 = normal_(nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.fc1(z)))
        h = F.relu(self.bn2(self.fc2(h).view(-1, 128, 7, 7)))
        h = F.relu(self.bn3(self.deconv1(h)))
        return torch.sigmoid(self.deconv2(h))


class Body(nn.Module):
    """D's and E's shared shape: conv64, conv128, FC1024, each with LReLU 0.2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = normal_(nn.Conv2d(1, 64, 4, stride=2, padding=1))
        self.conv2 = normal_(nn.Conv2d(64, 128, 4, stride=2, padding=1))
        self.fc1 = normal_(nn.Linear(128 * 7 * 7, 1024))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2).flatten(1)
        return F.leaky_relu(self.fc1(h), 0.2)


class Discriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = Body()
        self.fc2 = xavier_(nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.body(x))


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = Body()
        self.fc2 = xavier_(nn.Linear(1024, DIM_GEN + CLASSES))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.fc2(self.body(x))
        return out[:, :DIM_GEN], out[:, DIM_GEN:]  # ẑ_n, ẑ_c logits


# -- one generator step (clusGAN.train) ---------------------------------------------------


class Twin:
    def __init__(self, seed: int, batch: int = BATCH, device: torch.device | str = "cpu") -> None:
        torch.manual_seed(seed)  # the weights are drawn on the CPU whatever the device
        self.batch = batch
        self.G, self.D, self.E = Generator(), Discriminator(), Encoder()
        for net in (self.G, self.D, self.E):
            net.to(device)
        self.opt_d = torch.optim.Adam(self.D.parameters(), **ADAM)
        self.opt_ge = torch.optim.Adam([*self.G.parameters(), *self.E.parameters()], **ADAM)

    def critic_step(
        self, x: torch.Tensor, z: torch.Tensor, eps: torch.Tensor | None = None
    ) -> float:
        """One d_adam step; ``eps`` (a test's replayed draw) or a new one."""
        with torch.no_grad():
            x_fake = self.G(z)
        if eps is None:  # one ε for the whole batch: tf.random_uniform([], 0, 1)
            eps = torch.rand(()).to(x.device)  # (the CPU generator on every device)
        x_hat = (eps * x + (1 - eps) * x_fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.D(x_hat).sum(), x_hat, create_graph=True)
        gp = GP_SCALE * ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
        loss = self.D(x).mean() - self.D(x_fake).mean() + gp
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return float(loss.detach())

    def generator_step(self, z: torch.Tensor, idx: torch.Tensor) -> float:
        x_fake = self.G(z)
        zn_hat, logits = self.E(x_fake)
        loss = (
            self.D(x_fake).mean()
            + BETA_N * ((z[:, :DIM_GEN] - zn_hat) ** 2).mean()
            + BETA_C * F.cross_entropy(logits, idx)
        )
        self.opt_ge.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_ge.step()
        return float(loss.detach())


# -- evaluation (clusGAN.recon_enc, _eval_cluster; metric.py) -----------------------------


def purity(pred: np.ndarray, true: np.ndarray) -> float:
    """metric.compute_purity: each cluster counts its majority class as correct."""
    correct = sum(np.bincount(true[pred == c]).max() for c in np.unique(pred))
    return float(correct) / len(pred)


@torch.no_grad()
def evaluate(encoder: Encoder, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    device = next(encoder.parameters()).device
    feats = []
    for start in range(0, len(x), BATCH):
        zn, logits = encoder(torch.from_numpy(x[start : start + BATCH]).to(device))
        feats.append(torch.cat([zn, torch.softmax(logits, dim=1)], dim=1))
    latent = torch.cat(feats).cpu().numpy()
    k = max(CLASSES, len(np.unique(y)))
    pred = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(latent)
    return {
        "kmeans/purity": purity(pred, y),
        "kmeans/nmi": float(normalized_mutual_info_score(y, pred)),
        "kmeans/ari": float(adjusted_rand_score(y, pred)),
        "cluster/purity": purity(latent[:, DIM_GEN:].argmax(1), y),
    }


# -- the state between sittings ------------------------------------------------------------


def state_path(out: Path) -> Path:
    return out.with_suffix(".state.safetensors")


def _optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.{i}.{k}": v.detach().cpu()
        for i, state in opt.state_dict()["state"].items()
        for k, v in state.items()
    }


def _load_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            i, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(i), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})


def save_state(path: Path, twin: Twin, rng: np.random.RandomState, batches: Batches,
               best: tuple[float, int, dict] | None, meta: dict) -> None:  # fmt: skip
    """Everything the next sitting needs to go on as if it had never stopped, in one
    safetensors file written atomically (the metadata holds the scalars)."""
    _, keys, pos, has_gauss, cached = rng.get_state()
    tensors = {
        f"{name}.{k}": v.detach().cpu().contiguous()
        for name, net in (("G", twin.G), ("D", twin.D), ("E", twin.E))
        for k, v in net.state_dict().items()
    }
    tensors |= _optimizer_tensors("opt_d", twin.opt_d) | _optimizer_tensors("opt_ge", twin.opt_ge)
    tensors["torch_rng"] = torch.get_rng_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    tensors["reader_order"] = torch.from_numpy(np.asarray(batches.order, dtype=np.int64))
    if best is not None:
        tensors |= {f"best.E.{k}": v.detach().cpu().contiguous() for k, v in best[2].items()}
    scalars = {
        **meta,
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_cached_gaussian": float(cached),
        "reader_pos": batches.pos,
        "best": None if best is None else [best[0], best[1]],
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"state": json.dumps(scalars)})
    os.replace(tmp, path)


def load_state(path: Path, twin: Twin, rng: np.random.RandomState, batches: Batches,
               expect: dict) -> tuple[dict, tuple[float, int, dict] | None]:  # fmt: skip
    """The state ``save_state`` wrote, put back into ``twin``, ``rng`` and ``batches``;
    refused when it was written with another seed, batch size or evaluation interval."""
    if not path.is_file():
        raise SystemExit(f"--resume: no state file {path}; start without --resume")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        scalars = json.loads((f.metadata() or {}).get("state", "{}"))
    differ = [k for k, v in expect.items() if scalars.get(k) != v]
    if differ:
        raise SystemExit(
            f"--resume: {path} was written with other {', '.join(differ)} "
            f"({', '.join(f'{k}={scalars.get(k)}' for k in differ)}); pass the same values"
        )
    tensors = load_file(str(path))
    for name, net in (("G", twin.G), ("D", twin.D), ("E", twin.E)):
        net.load_state_dict({k[len(name) + 1 :]: v for k, v in tensors.items()
                             if k.startswith(name + ".")})  # fmt: skip
    _load_optimizer("opt_d", twin.opt_d, tensors)
    _load_optimizer("opt_ge", twin.opt_ge, tensors)
    torch.set_rng_state(tensors["torch_rng"])
    keys = tensors["numpy_keys"].numpy().astype(np.uint32)
    rng.set_state(("MT19937", keys, scalars["numpy_pos"], scalars["numpy_has_gauss"],
                   scalars["numpy_cached_gaussian"]))  # fmt: skip
    batches.order = tensors["reader_order"].numpy().copy()
    batches.pos = scalars["reader_pos"]
    best = None
    if scalars["best"] is not None:
        weights = {k[len("best.E.") :]: v for k, v in tensors.items() if k.startswith("best.E.")}
        best = (scalars["best"][0], scalars["best"][1], weights)
    return scalars, best


def _curve_until(out: Path, step: int) -> list[str]:
    """The curve's lines up to the saved step (a stopped sitting wrote no later line,
    but a killed one may have): what an uninterrupted run would have written so far."""
    if not out.is_file():
        return []
    lines = [line for line in out.read_text().splitlines() if line.strip()]
    return [line for line, d in zip(lines, map(json.loads, lines), strict=True)
            if d.get("split") == "val" and d["step"] <= step]  # fmt: skip


# -- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    rng = np.random.RandomState(args.seed)  # the official's np.random: batches and z
    data = synthetic(rng) if args.synthetic else load_mnist(Path(args.data))
    if args.smoke and not args.synthetic:
        data = {k: (x[:512], y[:512]) for k, (x, y) in data.items()}
    device = torch.device(args.device)
    twin = Twin(args.seed, args.batch_size, device)
    batches = Batches(data["train"][0], rng)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = state_path(out)
    same = {"seed": args.seed, "batch": args.batch_size, "eval_every": args.eval_every}
    best: tuple[float, int, dict] | None = None
    done, earlier, kept = 0, 0.0, []
    if args.resume:
        scalars, best = load_state(state, twin, rng, batches, same)
        done, earlier = scalars["step"], scalars["seconds"]
        kept = _curve_until(out, done)
    start = time.perf_counter()

    def seconds() -> float:
        return round(earlier + time.perf_counter() - start, 1)

    def save(step: int) -> None:
        save_state(state, twin, rng, batches, best, {**same, "step": step, "seconds": seconds()})

    with out.open("w") as f:

        def write(line: dict) -> None:
            f.write(json.dumps(line) + "\n")
            f.flush()

        f.writelines(line + "\n" for line in kept)
        f.flush()  # the earlier sittings' curve is on disk again before the first step
        for t in range(done + 1, args.steps + 1):
            for _ in range(D_ITERS):
                x = batches.next(twin.batch, device)
                z, _ = sample_z(twin.batch, rng, device)
                d_loss = twin.critic_step(x, z)
            z, idx = sample_z(twin.batch, rng, device)
            g_loss = twin.generator_step(z, idx)
            if t % args.eval_every == 0 or t == args.steps:
                scores = evaluate(twin.E, *data["val"])
                write({"step": t, "split": "val", **scores, "d_loss": d_loss, "g_loss": g_loss,
                       "seconds": seconds()})  # fmt: skip
                if best is None or scores["kmeans/purity"] > best[0]:
                    best = (scores["kmeans/purity"], t, copy.deepcopy(twin.E.state_dict()))
                save(t)
            stop = (
                args.max_minutes is not None and time.perf_counter() - start > 60 * args.max_minutes
            )
            if stop and t < args.steps:  # a last line says where (the next sitting drops it)
                save(t)
                stopped = {"stopped": True, "step": t, "steps": args.steps, "seed": args.seed,
                           "minutes": round(seconds() / 60, 2)}  # fmt: skip
                write(stopped)
                return stopped
        assert best is not None
        final = evaluate(twin.E, *data["test"])
        twin.E.load_state_dict(best[2])
        summary = {
            "final": True,
            "seed": args.seed,
            "steps": args.steps,
            "selected_step": best[1],
            "val_selected": best[0],
            "test": evaluate(twin.E, *data["test"]),
            "test_final": final,
            "minutes": round(seconds() / 60, 2),
        }
        write(summary)
    return summary


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=3000, help="generator steps (5 critic each)")
    p.add_argument("--eval-every", type=int, default=250, help="validation every N steps")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder of the MNIST IDX files")
    p.add_argument("--out", default="clustergan_twin.jsonl", help="the JSONL curve")
    p.add_argument("--batch-size", type=int, default=BATCH, help="the official --bs: 64")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 …")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (state saved) after")
    p.add_argument("--resume", action="store_true", help="go on from OUT.state.safetensors")
    p.add_argument("--smoke", action="store_true", help="3 steps on 512 images per split")
    p.add_argument("--synthetic", action="store_true", help="stand-in data, no files read")
    args = p.parse_args(argv)
    if args.smoke:
        args.steps, args.eval_every = min(args.steps, 3), min(args.eval_every, 2)
    if min(args.steps, args.eval_every, args.batch_size) < 1:
        p.error("--steps, --eval-every and --batch-size must be at least 1")
    if args.max_minutes is not None and args.max_minutes <= 0:
        p.error("--max-minutes must be positive")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    summary = run(args)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
