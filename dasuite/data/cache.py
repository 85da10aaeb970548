"""Generated images kept under ``cache_dir`` (never ``data_root``), made again when missing or damaged."""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import torch

_UNWRITABLE: set[Path] = set()  # cache folders already warned about (one line per folder, not per set)


def cached_images(path: Path, shape: tuple[int, ...], make: Callable[[], torch.Tensor], what: str,
                  log: logging.Logger) -> torch.Tensor:
    """The uint8 images of ``shape`` stored at ``path``, else ``make()`` saved there. A cache that cannot be
    written is one warning per folder on ``log`` (naming ``what`` and the ``cache_dir=`` fix), then the images
    are made in memory every time."""
    if path.is_file():
        try:
            cached = torch.load(path, weights_only=True)
            if isinstance(cached, torch.Tensor) and tuple(cached.shape) == tuple(shape) and cached.dtype == torch.uint8:
                return cached
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
            pass  # a damaged cache file is simply made again
    out = make()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(out, tmp)
        os.replace(tmp, path)
    except OSError as error:  # a read-only home on a cluster: go on without the cache
        if tmp.exists():
            tmp.unlink()
        if path.parent not in _UNWRITABLE:
            _UNWRITABLE.add(path.parent)
            log.warning("cannot write the %s cache in %s (%s); making it again in every run. Set "
                        "cache_dir=<a writable folder> to keep it.", what, path.parent, error.strerror or error)
    return out
