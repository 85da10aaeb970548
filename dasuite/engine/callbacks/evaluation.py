"""Evaluation: the run's metrics (``trainer.metrics``, :mod:`dasuite.metrics`) and loss on source
validation and target test, the label-free validators' ``val/*`` scores and the collapse guard's
``guard/*`` (these two from a fixed, seeded sample of unlabeled target train inputs only). The
sample's softmax predictions go to ``predictions/`` (for EnsV). Under torchrun rank 0 evaluates on the
whole sets and hands the numbers to the other ranks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from dasuite.engine.callbacks.base import Callback
from dasuite.engine.evaluate import embed, evaluate
from dasuite.engine.predictions import predictions_file, save_predictions
from dasuite.engine.probe import mixture_probe
from dasuite.engine.sampler import subset
from dasuite.errors import ConfigError, check_number
from dasuite.metrics import metric
from dasuite.validators import Outputs, score
from dasuite.validators.collapse import collapse_guard


class Evaluation(Callback):
    """``validation_samples``: the target train samples the validators score; ``collapse_min_*``: the collapse
    guard's thresholds; ``metrics``: what is measured on source val and target test; ``batch_size``: the
    evaluation batches (None: ``trainer.eval_batch_size``)."""

    def __init__(self, validation_samples: int = 2000, collapse_min_classes: float = 0.5,
                 collapse_min_entropy: float = 0.5, metrics: Sequence[str] = ("accuracy",),
                 batch_size: int | None = None):
        _check(validation_samples, collapse_min_classes, collapse_min_entropy, metrics)
        self.batch_size, self.samples, self.metric_names = batch_size, validation_samples, tuple(metrics)
        self.min_classes, self.min_entropy = collapse_min_classes, collapse_min_entropy
        self.target = None

    def before_fit(self, state) -> None:
        """The fixed, seeded subsample of unlabeled target train inputs the validators score."""
        self.batch = self.batch_size or state.trainer.eval_batch_size
        data, n = state.pair.target_train, len(state.pair.target_train)
        if n > self.samples:
            generator = torch.Generator().manual_seed(state.seed)
            data = subset(data, torch.randperm(n, generator=generator)[: self.samples].sort().values)
        self.target = data

    def on_evaluation(self, state, record: dict) -> None:
        record.update(state.trainer.dist.on_main(self.metrics, state.method, state.pair, state.device, state.seed,
                                                 predictions_file(state.run.path, state.at.epoch)))

    def metrics(self, method, pair, device: torch.device, seed: int, predictions: Path) -> dict:
        out = {}
        for prefix, data in (("source", pair.source_val), ("target", pair.target_test)):
            for key, value in evaluate(method, data, device, self.batch, pair.prepare, self.metric_names).items():
                out[f"{prefix}/{key}"] = value
        source = embed(method, pair.source_val.x, device, self.batch, pair.prepare)
        target = embed(method, self.target, device, self.batch, pair.prepare)
        probe = mixture_probe(method, self.target, device, self.batch, pair.prepare)
        outputs = Outputs(*source, pair.source_val.y.cpu(), *target, seed=seed, probe=probe)
        out.update({f"val/{name}": value for name, value in score(outputs).items()})
        save_predictions(predictions, outputs.target_probabilities)
        out.update(collapse_guard(outputs.target_logits, self.min_classes, self.min_entropy))
        return out


def _check(samples, min_classes, min_entropy, metrics) -> None:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ConfigError(f"trainer.validation_samples={samples!r} must be an integer >= 2.")
    for key, value in (("collapse_min_classes", min_classes), ("collapse_min_entropy", min_entropy)):
        check_number(f"trainer.{key}", value, minimum=0)
        if value > 1:
            raise ConfigError(f"trainer.{key}={value} must lie in [0, 1].")
    if isinstance(metrics, str):
        raise ConfigError(f"trainer.metrics={metrics!r} must be a list of metric names, e.g. [accuracy].")
    for name in metrics:
        metric(name)
    if "accuracy" not in metrics:
        raise ConfigError(f"trainer.metrics={list(metrics)} leaves out accuracy, which every run records "
                          "(target/acc and source/acc, the figures reports and benchmarks read); list it with the "
                          "others, e.g. trainer.metrics=[accuracy,mean_class_accuracy].")
