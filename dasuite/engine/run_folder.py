"""The files a run leaves behind (the run-folder contract in DESIGN.md).

Hydra writes ``.hydra/`` and ``train.log``; this module writes ``metrics.jsonl`` (appended once
per evaluation), ``summary.json`` and ``checkpoints/*.pt`` (both replaced atomically: written to
a temporary file and renamed, so a crash mid-write leaves the previous good file) and ``plots/``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import torch


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(value):
    """NaN and inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunFolder:
    """One run's output directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    def append_metrics(self, record: dict) -> None:
        with open(self.metrics_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({k: _json_safe(v) for k, v in record.items()}) + "\n")

    def read_metrics(self) -> list[dict]:
        if not self.metrics_file.exists():
            return []
        with open(self.metrics_file, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def write_summary(self, summary: dict) -> None:
        text = json.dumps({k: _json_safe(v) for k, v in summary.items()}, indent=2) + "\n"
        atomic_write(self.summary_file, lambda f: f.write(text.encode("utf-8")))

    def save_checkpoint(self, state: dict, name: str = "last.pt") -> Path:
        path = self.checkpoints / name
        atomic_write(path, lambda f: torch.save(state, f))
        return path
