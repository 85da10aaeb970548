"""The checks of the Trainer's own ``trainer.*`` values that do not need the run: one paragraph naming the
key, the bad value and what it should be (:class:`~dasuite.errors.ConfigError`). The built-in callbacks
check their settings themselves (:mod:`dasuite.engine.callbacks.defaults`)."""

from __future__ import annotations

from dasuite.engine.optim import OPTIMIZERS, SCHEDULES
from dasuite.errors import ConfigError, check_number


def check_trainer(s: dict) -> None:
    """Check the Trainer's constructor arguments ``s`` (name -> value)."""
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if not _integer(s[key], 1):
            raise ConfigError(f"trainer.{key}={s[key]} must be an integer >= 1.")
    if s["steps_per_epoch"] is not None and not _integer(s["steps_per_epoch"], 1):
        raise ConfigError(f"trainer.steps_per_epoch={s['steps_per_epoch']!r} must be null (one pass over the "
                          "stage's first drawn set) or an integer >= 1.")
    check_number("trainer.lr", s["lr"])
    check_number("trainer.lr_beta", s["lr_beta"])
    if s["lr_alpha"] is not None:  # null: the schedule's own value (dasuite.engine.optim)
        check_number("trainer.lr_alpha", s["lr_alpha"])
    for key in ("momentum", "weight_decay", "backbone_lr_mult", "bias_lr_mult"):
        check_number(f"trainer.{key}", s[key], minimum=0)
    if s["grad_clip_norm"] is not None:  # null: no clipping
        check_number("trainer.grad_clip_norm", s["grad_clip_norm"])
        if not s["grad_clip_norm"] > 0:
            raise ConfigError(f"trainer.grad_clip_norm={s['grad_clip_norm']} must be null (no clipping) or > 0.")
    if not s["lr"] > 0:
        raise ConfigError(f"trainer.lr={s['lr']} must be > 0.")
    for key, choices in (("optimizer", OPTIMIZERS), ("lr_schedule", SCHEDULES)):
        if s[key] not in choices:
            raise ConfigError(f"trainer.{key}={s[key]!r} is not one of {', '.join(choices)}.")
    for key in ("deterministic", "compile", "sync_batchnorm", "nesterov"):
        if not isinstance(s[key], bool):
            raise ConfigError(f"trainer.{key}={s[key]!r} must be true or false.")
    if s["eval_every"] != "auto" and not _integer(s["eval_every"], 1):
        raise ConfigError(f"trainer.eval_every={s['eval_every']!r} must be auto or an integer >= 1 (epochs between "
                          "evaluations).")


def _integer(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
