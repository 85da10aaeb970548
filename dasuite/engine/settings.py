"""The checks of ``trainer.*`` values that do not need the run: one paragraph naming the key, the
bad value and what it should be (:class:`~dasuite.errors.ConfigError`)."""

from __future__ import annotations

from dasuite.engine.optim import OPTIMIZERS, SCHEDULES
from dasuite.engine.selection import SELECTORS
from dasuite.errors import ConfigError, check_number
from dasuite.metrics import metric


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
    for key in ("progress", "plots", "deterministic", "compile", "sync_batchnorm", "nesterov"):
        if not isinstance(s[key], bool):
            raise ConfigError(f"trainer.{key}={s[key]!r} must be true or false.")
    if s["select"] not in SELECTORS:
        raise ConfigError(f"trainer.select={s['select']!r} is neither a validator nor a selector; valid choices: "
                          f"{', '.join(SELECTORS)}.")
    if isinstance(s["metrics"], str):
        raise ConfigError(f"trainer.metrics={s['metrics']!r} must be a list of metric names, e.g. [accuracy].")
    for name in s["metrics"]:
        metric(name)
    if "accuracy" not in s["metrics"]:
        raise ConfigError(f"trainer.metrics={list(s['metrics'])} leaves out accuracy, which every run records "
                          "(target/acc and source/acc, the figures reports and benchmarks read); list it with the "
                          "others, e.g. trainer.metrics=[accuracy,mean_class_accuracy].")
    if not _integer(s["validation_samples"], 2):
        raise ConfigError(f"trainer.validation_samples={s['validation_samples']!r} must be an integer >= 2.")
    for key in ("collapse_min_classes", "collapse_min_entropy"):
        check_number(f"trainer.{key}", s[key], minimum=0)
        if s[key] > 1:
            raise ConfigError(f"trainer.{key}={s[key]} must lie in [0, 1].")
    if s["eval_every"] != "auto" and not _integer(s["eval_every"], 1):
        raise ConfigError(f"trainer.eval_every={s['eval_every']!r} must be auto or an integer >= 1 (epochs between "
                          "evaluations).")


def _integer(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
