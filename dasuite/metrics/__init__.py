"""Evaluation metrics: each a plain function of (predicted classes, true labels), both (N,) integer
tensors, returning a float; one metric per file, its formula in the docstring.

A run lists the metrics it records in ``trainer.metrics`` (accuracy always among them); each is
computed on source validation and target test at every evaluation and written as ``source/<key>`` and
``target/<key>`` to metrics.jsonl, ``target_<key>`` / ``source_<key>`` (last iterate) and
``best_target_<key>`` / ``best_source_<key>`` (the label-free pick) to summary.json. Metrics are
reported, never used to choose: a validator or selector never sees them.

To add a metric: a file here with its function, and its line in :data:`METRICS`. A metric reads its
tensors through their methods and imports no torch, so ``dasuite report`` reads this registry
without loading torch (tests/test_metrics.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dasuite.errors import ConfigError
from dasuite.metrics.accuracy import accuracy
from dasuite.metrics.mean_class_accuracy import mean_class_accuracy, per_class_accuracy

__all__ = ["METRICS", "Metric", "accuracy", "mean_class_accuracy", "metric", "per_class_accuracy"]


@dataclass(frozen=True)
class Metric:
    compute: Callable[..., float]  # (predicted classes, labels) -> float
    key: str  # its name in metrics.jsonl and summary.json


#: ``trainer.metrics`` name -> metric
METRICS: dict[str, Metric] = {
    "accuracy": Metric(accuracy, "acc"),
    "mean_class_accuracy": Metric(mean_class_accuracy, "mean_class_acc"),
}


def metric(name: str, option: str = "trainer.metrics") -> Metric:
    """The metric ``name``, or a ConfigError naming ``option``, the bad name and the valid ones."""
    if name not in METRICS:
        raise ConfigError(f"{option} names {name!r}, which is not a metric; valid names: {', '.join(METRICS)}.")
    return METRICS[name]
