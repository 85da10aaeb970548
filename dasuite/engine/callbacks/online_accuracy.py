"""The figure test-time adaptation reports: the accuracy of a stream stage's online predictions, each batch
predicted before the method adapted on it (:meth:`~dasuite.methods.base.StepContext.predicted`).

Scored against the labels the engine keeps for the set (:meth:`~dasuite.data.pair.DomainPair.labels`; the method
never gets them): ``online/accuracy`` in the epoch's metrics record (``online_accuracy`` in summary.json), and for a
continual stream, one figure per shift, ``online/accuracy/<shift>`` (the set's ``target_test_segments``). A run
whose steps predict nothing records neither."""

from __future__ import annotations

import torch

from dasuite.engine.callbacks.base import Callback
from dasuite.engine.evaluate import ONLINE


class OnlineAccuracy(Callback):
    def before_fit(self, state) -> None:
        self.hits: torch.Tensor | None = self.__dict__.pop("loaded", None)  # per item: 1 right, 0 wrong, -1 unseen

    def before_epoch(self, state) -> None:
        if state.epoch_step == 0:  # a fresh epoch; one resumed mid-epoch keeps what its checkpoint held
            self.hits = None

    def after_step(self, state) -> None:
        if state.predicted is None:
            return
        draw, index, predicted = state.predicted
        labels = state.pair.labels(draw)
        if labels is None:
            return
        if self.hits is None:
            self.hits = torch.full((len(labels),), -1, dtype=torch.int8)
        index = index.cpu()
        self.hits[index] = (predicted.cpu() == labels[index]).to(torch.int8)

    def on_evaluation(self, state, record: dict) -> None:
        if self.hits is None:
            return
        seen = self.hits >= 0
        record[ONLINE] = self.hits[seen].float().mean().item()
        start = 0
        for name, size in state.pair.target_test_segments or ():
            part = self.hits[start:start + size]
            start += size
            if (part >= 0).any():
                record[f"{ONLINE}/{name}"] = part[part >= 0].float().mean().item()

    def on_save_checkpoint(self, state, checkpoint: dict) -> None:
        checkpoint.setdefault("callbacks", {})["online_accuracy"] = self.hits

    def on_load_checkpoint(self, state, checkpoint: dict) -> None:
        self.loaded = (checkpoint.get("callbacks") or {}).get("online_accuracy")
