"""``logger=wandb``: config, per-evaluation metrics and the summary in a Weights & Biases run.

Offline by default (``logger.mode=offline``): the run is written to ``<run>/wandb/`` and nothing leaves
the machine; ``wandb sync <run>/wandb/offline-run-*`` uploads it later, and ``logger.mode=online``
logs live (after ``wandb login``). A resumed run goes on in the same W&B run: its id is derived from
the run folder's path. Needs the wandb package: ``pip install "dasuite[wandb]"``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dasuite.errors import ConfigError
from dasuite.loggers.base import Logger, require, scalars

MODES = ("offline", "online", "disabled")
STATUS = {"completed": 0}  # exit code W&B records: any other status is a failure


class WandbLogger(Logger):
    """One W&B run per run folder, in ``project`` (and ``entity``, a team, when given)."""

    def __init__(self, run_dir: Path, config: dict, project: str = "dasuite", entity: str | None = None,
                 mode: str = "offline", tags: list[str] | None = None):
        super().__init__(run_dir, config)
        if mode not in MODES:
            raise ConfigError(f"logger.mode={mode!r} is not one of {', '.join(MODES)} (offline: written to "
                              "<run>/wandb/, uploaded later with `wandb sync`).")
        wandb = require("wandb", "wandb", "wandb")
        where = self.run_dir.resolve()
        self.run = wandb.init(project=project, entity=entity, mode=mode, dir=str(where), config=config,
                              name=where.name, tags=list(tags or []), resume="allow",
                              id=hashlib.sha1(str(where).encode()).hexdigest()[:16],
                              settings=wandb.Settings(silent=True))  # the run folder and train.log say the rest
        self.exit_code = 1  # until a summary says the run completed

    def log_metrics(self, record: dict, step: int) -> None:
        self.run.log(scalars(record), step=step)

    def log_summary(self, summary: dict) -> None:
        self.run.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
        self.exit_code = STATUS.get(summary.get("status"), 1)

    def close(self) -> None:
        self.run.finish(exit_code=self.exit_code)
