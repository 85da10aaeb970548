"""The run's record: each evaluation's line in ``metrics.jsonl`` (and the logger ``logger=`` names,
which the run folder forwards it to), and a line in train.log about every tenth of the epochs."""

from __future__ import annotations

import logging

from dasuite.engine.callbacks.base import Callback

log = logging.getLogger("dasuite.engine.trainer")


class MetricsLog(Callback):
    def before_fit(self, state) -> None:
        self.every = max(1, sum(epochs for _, epochs, _ in state.plan) // 10)

    def after_evaluation(self, state, record: dict) -> None:
        state.run.append_metrics(record)
        if state.at.epoch == 1 or state.stage_epoch + 1 == state.epochs or state.at.epoch % self.every == 0:
            log.info("epoch %d (%s) %s", state.at.epoch, state.stage.name, summary_line(record))


def summary_line(record: dict) -> str:
    """``loss 0.1234 | source 91.0% | target 85.5%`` of a metrics record."""
    parts = [f"loss {record.get('train/loss', float('nan')):.4f}"]
    for prefix in ("source", "target"):
        if f"{prefix}/acc" in record:
            parts.append(f"{prefix} {100 * record[f'{prefix}/acc']:.1f}%")
    return " | ".join(parts)
