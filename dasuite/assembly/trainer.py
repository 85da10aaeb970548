"""Config -> the :class:`~dasuite.engine.trainer.Trainer` of a ``trainer`` node."""

from __future__ import annotations

from omegaconf import DictConfig


def build_trainer(cfg: DictConfig):
    """The Trainer ``cfg`` (the run's ``trainer`` node) describes."""
    from hydra.utils import instantiate

    return instantiate(cfg)
