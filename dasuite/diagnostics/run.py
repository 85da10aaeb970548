"""What a finished run leaves in ``plots/`` and ``summary.json`` besides its metrics.

``plots/curves.png`` (learning curves and validator scores), ``plots/tsne.png`` (t-SNE of the
trained model's features by domain and by class, :data:`TSNE_POINTS` per domain),
``plots/tsne_initial.png`` (the same for the model before training; not after a resume),
``plots/decision_regions.png`` (2-D inputs), and the proxy A-distance of both models
(:mod:`~dasuite.diagnostics.domain_distance`). Each part that fails is a warning in train.log: a
diagnostic never fails a finished run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from dasuite.data import DomainPair
from dasuite.diagnostics.domain_distance import proxy_a_distance
from dasuite.diagnostics.embedding import Embedding, embed, tsne

log = logging.getLogger(__name__)

#: Points of each domain in a t-SNE plot (the proxy A-distance reads the whole embedding): enough to show the
#: domains' overlap and the classes, while t-SNE's cost, which grows faster than its points, stays near a second.
TSNE_POINTS = 250


class Diagnostics:
    """Call :meth:`initial` before training (optional) and :meth:`final` after it."""

    def __init__(self, pair: DomainPair, device: torch.device, batch_size: int, seed: int, plots: Path):
        self.pair, self.device, self.batch_size, self.seed, self.plots = pair, device, batch_size, seed, plots
        self.start: Embedding | None = None
        self.seconds = 0.0

    def initial(self, method) -> None:
        """Keep the features of the untrained model."""
        tick = time.perf_counter()
        self.start = self._safely("features of the initial model", embed, method, self.pair, self.device,
                                  self.batch_size, self.seed)
        self.seconds += time.perf_counter() - tick

    def final(self, method, metrics: list[dict]) -> dict[str, float]:
        """Write the plots; returns the summary fields (``proxy_a_distance``, ``proxy_a_distance_initial``)."""
        from dasuite.diagnostics.plots import plot_curves, plot_decision_regions

        tick = time.perf_counter()
        self._safely("learning curves", plot_curves, metrics, self.plots / "curves.png")
        if self.pair.input_shape == (2,):
            self._safely("decision regions", plot_decision_regions, method, self.pair, self.device,
                         self.plots / "decision_regions.png")
        end = self._safely("features of the trained model", embed, method, self.pair, self.device,
                           self.batch_size, self.seed)
        fields = {}
        epochs = metrics[-1]["epoch"] if metrics else 0  # records come every trainer.eval_every epochs
        for suffix, embedding, title in (("", end, f"after training ({epochs} epochs)"),
                                         ("_initial", self.start, "initial model")):
            if embedding is None:
                continue
            # one thread: on <= 1000 points, OpenMP/BLAS threads cost more than they save on a busy CPU
            with threadpool_limits(1):
                self._safely("t-SNE", self._plot_tsne, embedding, self.plots / f"tsne{suffix}.png",
                             f"t-SNE of backbone features, {title}")
                distance = self._safely("proxy A-distance", proxy_a_distance, embedding.features,
                                        embedding.domain, self.seed)
            if distance is not None:
                fields[f"proxy_a_distance{suffix}"] = distance
        self.seconds += time.perf_counter() - tick
        log.info("plots and proxy A-distance: %.1f s", self.seconds)
        return fields

    def _plot_tsne(self, embedding: Embedding, path: Path, title: str) -> None:
        from dasuite.diagnostics.plots import plot_tsne

        shown = embedding.sample(TSNE_POINTS, self.seed)
        plot_tsne(tsne(shown, self.seed), shown, self.pair.class_names, path, title)

    @staticmethod
    def _safely(what: str, function, *args):
        try:
            return function(*args)
        except Exception as error:  # noqa: BLE001 - a plot must not fail a finished run
            log.warning("%s failed (%s: %s); the run's results are unaffected", what, type(error).__name__, error)
            return None
