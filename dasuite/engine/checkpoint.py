"""Reading checkpoints back (to resume a run, or for predict, export and eval) without running code.

A checkpoint holds tensors and plain data only (dicts, lists, numbers, strings: NumPy's random state
is stored as a tensor and rebuilt), so it is read with ``torch.load(weights_only=True)``, which
refuses any other Python object instead of unpickling it. A file that needs more (a checkpoint of an
older dasuite, or one crafted to run code) fails with one paragraph; ``trust_checkpoint=true`` reads
it with full unpickling, for files from a trusted source only. The ``_target_``s the config in a
checkpoint names are admitted by :mod:`dasuite.engine.admission` before anything is built.

A checkpoint that cannot serve (truncated, damaged: each record's CRC-32 is checked, not a dasuite
checkpoint, written for another method, backbone or dataset, or weights of another architecture)
fails with one paragraph naming the file and the mismatch, before anything in the run folder changes.
"""

from __future__ import annotations

import pickle
import random
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from dasuite import __version__
from dasuite.errors import ConfigError
from dasuite.safe_files import UnsafeFile, open_read

#: What a resumable checkpoint holds besides the model.
REQUIRED = ("epoch", "step", "stage", "stage_epoch", "model", "optimizers", "schedulers", "samplers", "rng")


def rng_state() -> dict:
    """Every global random state a step may draw from: torch (CPU and each CUDA device), NumPy, Python;
    as tensors and plain data, so that a checkpoint holding it loads with ``weights_only=True``."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": position,
                      "has_gauss": has_gauss, "cached_gaussian": cached_gaussian},
            "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state.get("numpy")
    if isinstance(numpy, dict):
        np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                             numpy["has_gauss"], numpy["cached_gaussian"]))
    elif numpy is not None:  # the tuple of a checkpoint read with trust_checkpoint=true
        np.random.set_state(numpy)
    if "python" in state:
        random.setstate(state["python"])


def read_checkpoint(path: Path, action: str, hint: str = "", trust: bool = False) -> dict:
    """The dict saved at ``path``, or one paragraph saying it cannot ``action`` it and why. ``trust``:
    unpickle any Python object in it (which can run code: ``trust_checkpoint=true``)."""
    try:
        with open_read(path) as f:  # a pipe or device there is refused, not waited on
            _check_integrity(f)
            f.seek(0)
            state = torch.load(f, map_location="cpu", weights_only=not trust)
    except UnsafeFile:
        raise
    except pickle.UnpicklingError as error:
        if "Weights only load failed" not in str(error):
            raise _unreadable(path, action, hint, error) from error
        found = re.search(r"GLOBAL (\S+)", str(error))
        raise ConfigError(
            f"cannot {action} {path}: it holds a Python object that is not a tensor or plain data"
            f"{f' ({found.group(1)})' if found else ''}, and unpickling such an object can run any code, so "
            "dasuite does not. Checkpoints of earlier dasuite versions (which pickled NumPy's random state) fail "
            "this way, and so does a file made to run code. If you trust where this file comes from (you trained "
            "it, or its author), add trust_checkpoint=true to read it anyway.") from None
    except Exception as error:  # noqa: BLE001 - truncated zip, CRC mismatch, ...
        raise _unreadable(path, action, hint, error) from error
    if not isinstance(state, dict) or "model" not in state:
        raise ConfigError(f"cannot {action} {path}: it holds no model weights; it is not a dasuite checkpoint.{hint}")
    return state


def _check_integrity(file) -> None:
    """Check each record's CRC-32 (torch.load does not: a byte flipped on disk would load as other weights)."""
    with zipfile.ZipFile(file) as archive:
        damaged = archive.testzip()
    if damaged is not None:
        raise ValueError(f"the checksum of its record {damaged} does not match: the file changed after it was written")


def _unreadable(path: Path, action: str, hint: str, error: Exception) -> ConfigError:
    detail = str(error).strip().splitlines()[0] if str(error).strip() else "no detail"
    return ConfigError(f"cannot {action} {path}: the file cannot be read ({type(error).__name__}: {detail}); it is "
                       f"truncated or not a dasuite checkpoint, or it was damaged after it was written.{hint}")


def load_for_resume(path: Path, meta: dict, trust: bool = False) -> dict:
    """The checkpoint at ``path``, checked against the run's dataset, method and backbone names."""
    state = read_checkpoint(path, "resume from", " Delete it to restart the run from scratch in the same folder.",
                            trust)
    missing = [key for key in REQUIRED if key not in state]
    if missing:
        raise ConfigError(f"cannot resume from {path}: it is not a resumable dasuite checkpoint (missing "
                          f"{', '.join(missing)}).")
    saved = state.get("meta") if isinstance(state.get("meta"), dict) else {}
    for key in ("dataset", "method", "backbone"):
        if saved.get(key) is not None and saved.get(key) != meta.get(key):
            raise ConfigError(f"cannot resume from {path}: it holds a model trained with {key} "
                              f"{saved[key]!r}, but this run's config says {key}={meta.get(key)!r}. Was the "
                              "checkpoint copied from another run folder?")
    return state


def load_model(method: torch.nn.Module, state: dict, path: Path, action: str = "resume from") -> None:
    """``state["model"]`` into ``method``, or one paragraph saying which weights do not fit."""
    saved, model = state["model"], method.state_dict()
    if not isinstance(saved, dict):
        raise ConfigError(f"cannot {action} {path}: its model entry is a {type(saved).__name__}, not a dict of "
                          "weights; it is not a dasuite checkpoint.")
    missing = [k for k in model if k not in saved]
    unexpected = [k for k in saved if k not in model]
    wrong = [f"{k} {tuple(v.shape)} (model: {tuple(model[k].shape)})" for k, v in saved.items()
             if k in model and isinstance(v, torch.Tensor) and v.shape != model[k].shape]
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(map(str, keys[:5]))}{' ...' if len(keys) > 5 else ''}"
                 for label, keys in (("missing in the checkpoint", missing), ("not in the model", unexpected),
                                     ("other shapes", wrong)) if keys]
        meta = state.get("meta") if isinstance(state.get("meta"), dict) else {}
        writer = f"dasuite {meta['dasuite_version']}" if meta.get("dasuite_version") else "an older dasuite"
        raise ConfigError(f"cannot {action} {path}: its weights do not fit the model built from the run's "
                          f"config ({'; '.join(parts)}). The checkpoint belongs to another model or architecture, "
                          f"or {writer} wrote it with defaults this one ({__version__}) builds differently.")
    method.load_state_dict(saved)
