"""Config -> the run's metrics logger (``logger=csv|tensorboard|mlflow|wandb``, :mod:`dasuite.loggers`)."""

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
