"""Running the ``[eval]`` metrics of a spec on a trained engine.

A metric is a registered component (:class:`~gan.core.components.Metric`) whose
factory receives its validated parameters and an :class:`Evaluation`: the engine in
eval mode plus cached accessors for what metrics need — graph nodes computed on real
data of a split, graph nodes computed from fresh latent draws, the true labels, and the
data classifier. Metrics never see a model name; the spec says which nodes they read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from gan.core.engine import Engine
from gan.core.errors import DataError, SpecError
from gan.evaluation import classifier as judge
from gan.evaluation.batchnorm import batchnorm_mode

DataLoader = Callable[[str], tuple[torch.Tensor, torch.Tensor]]

# Added to ``eval.seed`` per split: selection (val) and the reported figure (test) draw
# different latents; "test" keeps eval.seed itself.
MIN_EXAMPLES = 16  # fewer: covariances, k-means with ≥ 10 clusters, 1-NN are undefined
LATENT_SEED_OFFSETS = {"test": 0, "val": 1_000_003, "train": 2_000_003}
"""``split -> (scaled images, labels)`` on the CPU."""


@dataclass
class Evaluation:
    """What a metric may read. Everything is computed once and cached."""

    engine: Engine
    load: DataLoader
    quiet: bool = False
    split: str | None = None  # the split evaluated; default eval.split (training: "val")
    _data: dict[tuple[str, int | None], tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict
    )
    _nodes: dict[tuple[str, str, int | None], torch.Tensor] = field(default_factory=dict)
    _generated: dict[tuple[str, int], dict[str, torch.Tensor]] = field(default_factory=dict)
    _classifier: judge.DataClassifier | None = None
    _judge_real: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def spec(self):
        return self.engine.model.spec

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.engine.model.context.image_shape

    @property
    def labelling_split(self) -> str:
        """Where protocols that label clusters with known examples (the AAE's most
        confident example) take them from: the validation split when the spec holds one
        out, else the training split — never the split being scored."""
        return "val" if self.spec.data.val else "train"

    @property
    def num_classes(self) -> int:
        return self.engine.model.context.num_classes

    def reset_model_outputs(self) -> None:
        """Forget computed nodes (the networks changed); keep data and the classifier."""
        self._nodes.clear()
        self._generated.clear()

    # -- real data ----------------------------------------------------------------------
    def data(self, split: str | None = None, limit: int | None = None):
        """(images, labels) of ``split``, first ``limit`` (default: the eval split with
        ``eval.limit``; another split defaults to all of it)."""
        split, limit = self._split(split, limit)
        key = (split, limit)
        if key not in self._data:
            images, labels = self.load(split)
            if len(images[:limit]) < MIN_EXAMPLES:
                raise DataError(
                    f"The {split} split holds {len(images[:limit])} example(s); an evaluation "
                    f"needs at least {MIN_EXAMPLES} (statistics such as a Fréchet distance "
                    f"or a clustering are undefined on fewer). "
                    + (
                        "Hold out more with --set data.val=5000."
                        if split == "val"
                        else "Raise eval.limit or evaluate another split."
                    )
                )
            self._data[key] = (images[:limit], labels[:limit])
        return self._data[key]

    def labels(self, split: str | None = None, limit: int | None = None) -> torch.Tensor:
        return self.data(split, limit)[1]

    def real(self, node: str, split: str | None = None, limit: int | None = None) -> torch.Tensor:
        """``node`` computed on the real examples of a split (CPU, float32 or int64)."""
        split, limit = self._split(split, limit)
        key = (node, split, limit)
        if key not in self._nodes:
            images, labels = self.data(split, limit)
            self._nodes[key] = self._batched((node,), images, labels, len(images))[node]
        return self._nodes[key]

    # -- generated data -------------------------------------------------------------------
    def generated(self, nodes: tuple[str, ...], n: int) -> dict[str, torch.Tensor]:
        """``nodes`` computed from ``n`` fresh latent draws (a fixed seed per evaluation,
        so two checkpoints are compared on the same latents)."""
        key = (",".join(nodes), n)
        if key not in self._generated:
            images, labels = self.data()
            self._generated[key] = self._batched(nodes, images, labels, n)
        return self._generated[key]

    def as_images(self, t: torch.Tensor) -> torch.Tensor:
        """A node's value as an image batch (generators may return flat vectors)."""
        return t.float().reshape(len(t), *self.image_shape)

    # -- the judge ------------------------------------------------------------------------
    def classifier(self) -> judge.DataClassifier:
        """The project's classifier of this data (trained on the train split, cached)."""
        if self._classifier is None:
            images, labels = self.data("train")
            self._classifier = judge.load_or_train(
                images, labels, self.num_classes, quiet=self.quiet
            )
        return self._classifier

    def judge_real(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The judge's (features, logits) of the eval split's real images. They do not
        depend on the model, so they are computed once, not at every evaluation."""
        if self._judge_real is None:
            self._judge_real = judge.predict(self.classifier(), self.data()[0])
        return self._judge_real

    # -- internals ------------------------------------------------------------------------
    def _generator(self) -> torch.Generator:
        """The latent stream of one evaluation: ``eval.seed`` plus an offset per split.
        Checkpoints are compared on the same latents, but the latents that *select* a
        checkpoint (validation) are not the ones that *report* it (test): a sample metric
        does not read the data split, and would otherwise repeat the selection's value."""
        device = self.engine.sampler_generator.device
        offset = LATENT_SEED_OFFSETS.get(self._split(None, None)[0], 0)
        return torch.Generator(device).manual_seed(self.spec.eval.seed + offset)

    def _split(self, split: str | None, limit: int | None) -> tuple[str, int | None]:
        """No split named: the eval split, limited to ``eval.limit`` unless told."""
        if split is None:
            return self.split or self.spec.eval.split, limit or self.spec.eval.limit
        return split, limit

    def _batched(self, nodes: tuple[str, ...], images, labels, n: int) -> dict[str, torch.Tensor]:
        """``nodes`` on ``n`` examples in eval batches (the data cycled when ``n`` exceeds
        it), every sampler drawn from a fresh generator seeded with ``eval.seed``."""
        gen = self._generator()
        bs = self.spec.eval.batch_size
        device = self.engine.device
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in nodes}
        for i in range(0, n, bs):
            idx = torch.arange(i, min(i + bs, n)) % len(images)
            batch = {"x": images[idx].to(device), "y": labels[idx].to(device)}
            out = self.engine.compute(list(nodes), self.engine.draw_sources(batch, gen))
            for k, v in out.items():
                parts[k].append(v.detach().float().cpu() if v.is_floating_point() else v.cpu())
        return {k: torch.cat(v) for k, v in parts.items()}


def run_metrics(evaluation: Evaluation) -> dict[str, float]:
    """Every metric of the spec's ``[eval]``, as ``{"metric/key": value}``."""
    engine = evaluation.engine
    results: dict[str, float] = {}
    with engine.eval_mode(), batchnorm_mode(evaluation):
        for name, resolved in engine.model.metrics.items():
            values = resolved.component.factory(resolved.params, evaluation)
            for key, value in values.items():
                results[f"{name}/{key}"] = float(value)
    return results


def is_better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def check_best_key(spec, results: dict[str, float]) -> None:
    """``eval.best`` must name a key the metrics produced."""
    key = spec.eval.best
    if key is not None and key not in results:
        raise SpecError(
            f"eval.best = '{key}' is not among the computed metrics: "
            f"{', '.join(sorted(results)) or '(none)'}. Use one of those keys."
        )
