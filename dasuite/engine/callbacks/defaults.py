"""The built-in callbacks, configured: what a :class:`~dasuite.engine.trainer.Trainer` runs unless given
another list. Their settings are the ``trainer.*`` keys of the same names (configs/trainer/default.yaml);
``select=None``, ``progress=False`` and ``plots=False`` leave that callback out::

    Trainer(epochs=20, callbacks=default_callbacks(ModelSelection(select="im"), EarlyStopping("im"),
                                                   plots=False))

A callback given that is an instance of a built-in's class replaces it in place (``ModelSelection`` above);
the others are added after the built-ins (``EarlyStopping``). The order the trainer runs them in follows
their declarations (:mod:`.ordering`)."""

from __future__ import annotations

from collections.abc import Sequence

from dasuite.engine.callbacks.base import Callback, check_callbacks
from dasuite.engine.callbacks.checkpointing import Checkpointing
from dasuite.engine.callbacks.diagnostic_plots import DiagnosticPlots
from dasuite.engine.callbacks.divergence_check import DivergenceCheck
from dasuite.engine.callbacks.evaluation import Evaluation
from dasuite.engine.callbacks.metrics_log import MetricsLog
from dasuite.engine.callbacks.model_selection import ModelSelection
from dasuite.engine.callbacks.online_accuracy import OnlineAccuracy
from dasuite.engine.callbacks.progress import Progress
from dasuite.engine.callbacks.signal_stop import SignalStop
from dasuite.errors import ConfigError


def default_callbacks(*callbacks: Callback, select: str | None = "ensv", validation_samples: int = 2000,
                      collapse_min_classes: float = 0.5, collapse_min_entropy: float = 0.5,
                      metrics: Sequence[str] = ("accuracy",), progress: bool = True,
                      plots: bool = True) -> list[Callback]:
    """The built-ins with these settings, ``callbacks`` replacing those of their classes or added after them."""
    for key, value in (("progress", progress), ("plots", plots)):
        if not isinstance(value, bool):
            raise ConfigError(f"trainer.{key}={value!r} must be true or false.")
    built_in = [Checkpointing(), DivergenceCheck(),
                Evaluation(validation_samples, collapse_min_classes, collapse_min_entropy, metrics), OnlineAccuracy(),
                *([ModelSelection(select)] if select is not None else []), MetricsLog(),
                *([Progress()] if progress else []), SignalStop(), *([DiagnosticPlots()] if plots else [])]
    given = check_callbacks(callbacks, "trainer.callbacks")
    replaced = [next((c for c in given if isinstance(c, type(b))), b) for b in built_in]
    return [*replaced, *(c for c in given if not any(c is r for r in replaced))]
