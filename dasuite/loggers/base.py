"""The logger interface, and ``logger=csv``: the run folder's metrics.jsonl, written whatever the logger."""

from __future__ import annotations

import importlib
import numbers
from pathlib import Path

from dasuite.errors import ConfigError


class Logger:
    """Receives every metrics.jsonl record (step = epoch) and the final summary. This base class is
    ``logger=csv``: it adds nothing to the metrics.jsonl the run folder always writes."""

    def __init__(self, run_dir: Path, config: dict):
        self.run_dir, self.config = Path(run_dir), config

    def log_metrics(self, record: dict, step: int) -> None:
        """One evaluation's record (metrics.jsonl line)."""

    def log_summary(self, summary: dict) -> None:
        """summary.json's fields, once, at the end of the run (completed or failed)."""

    def close(self) -> None:
        """Flush and release files."""


def scalars(record: dict) -> dict[str, float]:
    """The numeric entries of a record, except its position (``epoch``, ``step``)."""
    return {k: float(v) for k, v in record.items()
            if isinstance(v, numbers.Real) and not isinstance(v, bool) and k not in ("epoch", "step")}


def require(module: str, logger: str, extra: str):
    """``module`` imported, or a ConfigError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ConfigError(f"logger={logger} needs the {error.name or module} package, which is not installed: "
                          f'pip install "dasuite[{extra}]" (or choose logger=csv, the default, which needs '
                          "nothing).") from error
