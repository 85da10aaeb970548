"""The files ``dasuite report`` writes, and how it knows them again.

The report writes only its own named files (report.md, report.csv, ...) into its output folder, each
replaced atomically and never through a link (:func:`dasuite.safe_files.write_atomic`). Beside them,
``.dasuite-report.json`` records the SHA-256 of every file the report wrote there. A file of one of
those names that is not recorded with its current content (a user's own report.md, a report edited by
hand, one of an older dasuite) is never replaced: the report stops before writing anything, naming the
file and ``--out``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import IO

from dasuite.errors import ConfigError
from dasuite.safe_files import UnsafeFile, is_present, make_dirs, read_bytes, refuse_write, what_is, write_atomic

#: The record of what the report wrote in its output folder.
MANIFEST = ".dasuite-report.json"


class Outputs:
    """The report's files in ``folder``: :meth:`check` all of them first, then :meth:`write` each."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.written = self._recorded()

    def check(self, names: list[str]) -> None:
        """A ConfigError for the first of ``names`` that the report may not replace; nothing is written."""
        for name in [*names, MANIFEST]:
            path = self.folder / name
            what = what_is(path)
            if what is not None:
                raise UnsafeFile(f"{refuse_write(path, what)} Or give --out DIR to write the report elsewhere.")
            if name != MANIFEST and path.exists() and self.written.get(name) != _digest(read_bytes(path)):
                raise ConfigError(
                    f"{path} exists and was not written by dasuite report (or was changed since: {MANIFEST} there "
                    "records what the report wrote), so the report does not replace it and wrote nothing. Give "
                    "--out DIR to write the report elsewhere, or move that file away.")

    def write(self, name: str, data: bytes | str | Callable[[IO[bytes]], None]) -> None:
        """Write ``name`` (text, bytes, or a function writing a binary file) and record it."""
        make_dirs(self.folder)
        write_atomic(self.folder / name, data)
        self.record(name)

    def record(self, name: str) -> None:
        """Record ``name`` (just written by the report, e.g. a plot) as the report's own."""
        self.written[name] = _digest(read_bytes(self.folder / name))
        write_atomic(self.folder / MANIFEST, json.dumps({"written_by": "dasuite report", "sha256": self.written},
                                                        indent=1) + "\n")

    def _recorded(self) -> dict[str, str]:
        """The manifest's record (empty when there is none, or it is not one: then no file counts as ours)."""
        path = self.folder / MANIFEST
        try:
            if what_is(path) is not None or not is_present(path):
                return {}
            record = json.loads(read_bytes(path)).get("sha256")
        except (OSError, ValueError, AttributeError):
            return {}
        return {k: v for k, v in record.items() if isinstance(v, str)} if isinstance(record, dict) else {}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
