"""The files a run leaves behind (the run-folder contract in DESIGN.md).

Hydra writes ``.hydra/`` and ``train.log``; this module writes ``metrics.jsonl`` (appended once
per evaluation), ``summary.json`` and ``checkpoints/*.pt`` (both replaced atomically: written to
a temporary file and renamed, so a crash mid-write leaves the previous good file) and ``plots/``.

metrics.jsonl is appended before the epoch's checkpoint is saved, so a run killed in between has
one line more than its checkpoint: :meth:`RunFolder.truncate_metrics` drops it when the run resumes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


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
    """NaN and inf are not JSON: write them as null (in nested dicts and lists too)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def read_metrics(file: Path) -> list[dict]:
    """metrics.jsonl's records, without a last line cut short by a crash mid-append (torch-free, for report)."""
    if not file.is_file():
        return []
    with open(file, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i < len(lines) - 1:
                raise
    return records


class RunFolder:
    """One run's output directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.logger = None  # a dasuite.loggers Logger: gets every metrics record (step = epoch), then the summary

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
        if self.logger is not None:
            self.logger.log_metrics(record, record["epoch"])

    def read_metrics(self) -> list[dict]:
        """The records, without a last line cut short by a crash mid-append."""
        return read_metrics(self.metrics_file)

    def truncate_metrics(self, epochs: int) -> int:
        """Keep the records of the first ``epochs`` epochs (rewritten atomically, without a torn last
        line); returns how many records were dropped."""
        if not self.metrics_file.exists():
            return 0
        records = self.read_metrics()
        kept = [r for r in records if r.get("epoch", 0) <= epochs]
        text = "".join(json.dumps(r) + "\n" for r in kept)
        atomic_write(self.metrics_file, lambda f: f.write(text.encode("utf-8")))
        return len(records) - len(kept)

    def remove_temporary_files(self) -> None:
        """Temporary files of atomic writes cut short by a crash (the target files are intact)."""
        for tmp in [*self.path.glob(".*.tmp"), *self.checkpoints.glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)

    def write_summary(self, summary: dict) -> None:
        text = json.dumps({k: _json_safe(v) for k, v in summary.items()}, indent=2) + "\n"
        atomic_write(self.summary_file, lambda f: f.write(text.encode("utf-8")))
        if self.logger is not None:  # the summary comes last: the logger's run ends with it
            logger, self.logger = self.logger, None
            try:
                logger.log_summary(summary)
                logger.close()
            except Exception as error:  # noqa: BLE001 - the run's own files are written
                logging.getLogger(__name__).warning("logger %s failed to record the summary (%s: %s)",
                                                    type(logger).__name__, type(error).__name__, error)

    def save_checkpoint(self, state: dict, name: str = "last.pt") -> Path:
        path = self.checkpoints / name
        import torch  # here, so that reading run folders (dasuite report) never loads torch

        atomic_write(path, lambda f: torch.save(state, f))
        return path

    def copy_checkpoint(self, source: str, name: str) -> Path:
        """``checkpoints/<source>`` copied, atomically, to ``checkpoints/<name>`` (e.g. last.pt -> best.pt)."""
        path = self.checkpoints / name
        with open(self.checkpoints / source, "rb") as original:
            atomic_write(path, lambda f: shutil.copyfileobj(original, f, 1 << 20))
        return path
