"""Where a run's metrics go besides its run folder: ``logger=csv`` (the default: metrics.jsonl only),
``logger=tensorboard``, ``logger=mlflow``, ``logger=wandb``. One module per logger, each a
:class:`~dasuite.loggers.base.Logger`; the optional packages are imported only by the logger that needs them."""

from __future__ import annotations

from dasuite.loggers.base import Logger
