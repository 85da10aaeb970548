"""The label-free pick of a run: the epoch whose ``val/<trainer.select>`` is best.

Candidates are the epochs of the method's last stage (for ADDA, SHOT and fine-tuning, the adapted
model, not the source pretraining). An epoch the collapse guard flags loses to any unflagged one;
among flagged epochs (when every epoch is flagged) the validator still decides, and the summary
says ``best_collapsed: true``. Ties keep the earlier epoch. Target labels never enter the choice.
"""

from __future__ import annotations

import math


class Selection:
    """The best epoch so far by one validator; its state travels in checkpoints so resume keeps it."""

    def __init__(self, validator: str):
        self.key = f"val/{validator}"
        self.validator = validator
        self.epoch: int | None = None
        self.value = -math.inf
        self.collapsed = True
        self.record: dict = {}

    def offer(self, record: dict) -> bool:
        """Consider the evaluation ``record`` of a candidate epoch; True when it becomes the pick."""
        value = record.get(self.key)
        value = -math.inf if value is None or not math.isfinite(value) else value
        collapsed = bool(record.get("guard/collapsed", False))
        if self.epoch is not None and (not collapsed, value) <= (not self.collapsed, self.value):
            return False
        self.epoch, self.value, self.collapsed, self.record = record["epoch"], value, collapsed, record
        return True

    def state_dict(self) -> dict:
        return {"validator": self.validator, "epoch": self.epoch, "value": self.value,
                "collapsed": self.collapsed, "record": self.record}

    def load_state_dict(self, state: dict | None) -> None:
        if state and state.get("validator") == self.validator:
            self.epoch, self.value = state["epoch"], state["value"]
            self.collapsed, self.record = state["collapsed"], state["record"]

    def summary(self) -> dict:
        """The summary.json fields of the pick (the accuracies are reported, never used to choose)."""
        return {"select": self.validator, "best_epoch": self.epoch,
                "best_value": self.value if math.isfinite(self.value) else None,
                "best_collapsed": self.collapsed if self.epoch is not None else None,
                "best_target_acc": self.record.get("target/acc"), "best_source_acc": self.record.get("source/acc")}
