"""Reading ``checkpoints/last.pt`` back to resume a run, and the random states it carries.

A checkpoint that cannot serve (truncated, not a dasuite checkpoint, written for another method,
backbone or dataset, or weights of another architecture) fails with one paragraph naming the file
and the mismatch, before anything in the run folder changes.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from dasuite.errors import ConfigError

#: What a resumable checkpoint holds besides the model.
REQUIRED = ("epoch", "step", "stage", "stage_epoch", "model", "optimizers", "schedulers", "samplers", "rng")


def rng_state() -> dict:
    """Every global random state a step may draw from: torch (CPU and each CUDA device), NumPy, Python."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        np.random.set_state(state["numpy"])
    if "python" in state:
        random.setstate(state["python"])


def read_checkpoint(path: Path, action: str, hint: str = "") -> dict:
    """The dict saved at ``path``, or one paragraph saying it cannot ``action`` it and why."""
    try:
        # our own file: beside tensors it holds optimizer, sampler and RNG states (pickled objects)
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - truncated zip, pickle errors, ...
        raise ConfigError(
            f"cannot {action} {path}: the file cannot be read ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no detail'}); it is truncated or not a "
            f"dasuite checkpoint.{hint}") from error
    if not isinstance(state, dict) or "model" not in state:
        raise ConfigError(f"cannot {action} {path}: it holds no model weights; it is not a dasuite checkpoint.{hint}")
    return state


def load_for_resume(path: Path, meta: dict) -> dict:
    """The checkpoint at ``path``, checked against the run's dataset, method and backbone names."""
    state = read_checkpoint(path, "resume from", " Delete it to restart the run from scratch in the same folder.")
    if not isinstance(state, dict) or any(key not in state for key in REQUIRED):
        missing = [key for key in REQUIRED if not isinstance(state, dict) or key not in state]
        raise ConfigError(f"cannot resume from {path}: it is not a resumable dasuite checkpoint (missing "
                          f"{', '.join(missing)}).")
    saved = state.get("meta") or {}
    for key in ("dataset", "method", "backbone"):
        if saved.get(key) is not None and saved.get(key) != meta.get(key):
            raise ConfigError(f"cannot resume from {path}: it holds a model trained with {key} "
                              f"{saved[key]!r}, but this run's config says {key}={meta.get(key)!r}. Was the "
                              "checkpoint copied from another run folder?")
    return state


def load_model(method: torch.nn.Module, state: dict, path: Path, action: str = "resume from") -> None:
    """``state["model"]`` into ``method``, or one paragraph saying which weights do not fit."""
    saved, model = state["model"], method.state_dict()
    missing = [k for k in model if k not in saved]
    unexpected = [k for k in saved if k not in model]
    wrong = [f"{k} {tuple(v.shape)} (model: {tuple(model[k].shape)})" for k, v in saved.items()
             if k in model and isinstance(v, torch.Tensor) and v.shape != model[k].shape]
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                 for label, keys in (("missing in the checkpoint", missing), ("not in the model", unexpected),
                                     ("other shapes", wrong)) if keys]
        raise ConfigError(f"cannot {action} {path}: its weights do not fit the model built from the run's "
                          f"config ({'; '.join(parts)}). The checkpoint belongs to another model or architecture.")
    method.load_state_dict(saved)
