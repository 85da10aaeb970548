"""What the report measures picks by: target accuracy, or (``--metric NAME``) another metric of
:mod:`dasuite.metrics` that the runs record, such as VisDA-2017's mean per-class accuracy; and the
metrics beyond accuracy that the configurations table shows beside it."""

from __future__ import annotations

from dataclasses import dataclass

from dasuite.commands.report.runs import Run
from dasuite.errors import ConfigError
from dasuite.metrics import METRICS, metric


@dataclass(frozen=True)
class Measure:
    """A metric on the target test set, by its ``trainer.metrics`` name."""

    name: str = "accuracy"

    @property
    def key(self) -> str:
        """Its key in metrics.jsonl records: ``target/acc``."""
        return f"target/{METRICS[self.name].key}"

    @property
    def field(self) -> str:
        """Its key in summary.json (``target_acc``; ``best_`` before it: the label-free pick's) and report.csv."""
        return f"target_{METRICS[self.name].key}"

    @property
    def label(self) -> str:
        """``target accuracy``, ``target mean class accuracy``."""
        return "target " + self.name.replace("_", " ")

    @property
    def short(self) -> str:
        """A column's name: ``target acc``, ``target mean class acc``."""
        return "target " + METRICS[self.name].key.replace("_", " ")


def chosen(name: str, runs: list[Run]) -> Measure:
    """``--metric NAME`` as a Measure, or one paragraph: an unknown name, or a metric beyond accuracy (which
    every run records) that no run records."""
    metric(name, "--metric")
    found = Measure(name)
    if found != Measure() and not _records(found, runs):
        recorded = [n for n in METRICS if _records(Measure(n), runs)]
        raise ConfigError(f"--metric {name}: no run here records it ({found.key} in metrics.jsonl); a run records "
                          f"the metrics its trainer.metrics lists. These runs record: {', '.join(recorded)}.")
    return found


def beside_accuracy(runs: list[Run]) -> list[Measure]:
    """The metrics other than accuracy whose last-iterate figure some run's summary.json holds."""
    return [Measure(name) for name in METRICS if name != "accuracy"
            and any(run.summary.get(Measure(name).field) is not None for run in runs)]


def _records(measure: Measure, runs: list[Run]) -> bool:
    return any(measure.key in record for run in runs for record in run.metrics)
