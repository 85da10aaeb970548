"""``logger=tensorboard``: TensorBoard event files in ``<run>/tensorboard/`` (``tensorboard --logdir runs``)."""

from __future__ import annotations

import json
from pathlib import Path

from dasuite.loggers.base import Logger, require, scalars


class TensorBoardLogger(Logger):
    """Every metric as a scalar at step = epoch; the summary as text and ``summary/<key>`` scalars."""

    def __init__(self, run_dir: Path, config: dict):
        super().__init__(run_dir, config)
        require("tensorboard", "tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
        self.writer.add_text("config", f"```\n{json.dumps(config, indent=1, default=str)}\n```")
        self.last_step = 0

    def log_metrics(self, record: dict, step: int) -> None:
        for key, value in scalars(record).items():
            self.writer.add_scalar(key, value, step)
        self.last_step = step

    def log_summary(self, summary: dict) -> None:
        self.writer.add_text("summary", f"```\n{json.dumps(summary, indent=1, default=str)}\n```", self.last_step)
        for key, value in scalars(summary).items():
            self.writer.add_scalar(f"summary/{key}", value, self.last_step)

    def close(self) -> None:
        self.writer.close()
