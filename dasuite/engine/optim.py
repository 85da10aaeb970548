"""Optimizers and the learning-rate schedule, built from a method's param groups."""

from __future__ import annotations

import torch

from dasuite.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("dann", "constant")


def build_optimizer(name: str, groups: list[dict], lr: float, momentum: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    """``lr_mult`` in a group scales ``lr`` for that group."""
    groups = [{**{k: v for k, v in g.items() if k != "lr_mult"}, "lr": lr * g.get("lr_mult", 1.0)}
              for g in groups]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay,
                               nesterov=momentum > 0)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, weight_decay=weight_decay)
    raise ConfigError(f"trainer.optimizer={name!r} is not one of {', '.join(OPTIMIZERS)}.")


def build_schedule(name: str, optimizer: torch.optim.Optimizer, total_steps: int, alpha: float,
                   beta: float) -> torch.optim.lr_scheduler.LambdaLR:
    """``dann``: lr_p = lr / (1 + alpha * p) ** beta with p = step / total_steps (Ganin et al. 2016)."""
    if name == "dann":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: (1.0 + alpha * min(step / total_steps, 1.0)) ** (-beta))
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ConfigError(f"trainer.lr_schedule={name!r} is not one of {', '.join(SCHEDULES)}.")
