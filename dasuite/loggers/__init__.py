"""Where a run's metrics go besides its run folder: ``logger=csv`` (the default: metrics.jsonl only),
``logger=tensorboard``, ``logger=mlflow``, ``logger=wandb``. One module per logger, each a
:class:`~dasuite.loggers.base.Logger`; the optional packages are imported only by the logger that needs them."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dasuite.loggers.base import Logger


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger:
    """The logger ``cfg.logger`` names (none: the csv one), given the run folder and the resolved config."""
    from hydra.utils import instantiate

    config = OmegaConf.to_container(cfg, resolve=True)
    node = cfg.get("logger")
    if node is None:
        return Logger(run_dir, config)
    return instantiate(node, _partial_=True)(run_dir, config)
