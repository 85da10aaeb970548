"""The files a run leaves behind (the run-folder contract of docs/architecture.md and docs/runs.md).

Hydra writes ``.hydra/`` and ``train.log``; this module writes ``metrics.jsonl`` (appended once
per evaluation), ``summary.json`` and ``checkpoints/*.pt`` (both replaced atomically: written to
a temporary file and renamed, so a crash mid-write leaves the previous good file) and ``plots/``.
Files get the permissions the user's umask gives (a teammate can read a run meant to be shared), and
a full disk fails with one paragraph naming the file and the free space. Every file is written and read
through :mod:`dasuite.safe_files`: a symbolic link, named pipe or device planted in the folder is refused
with one paragraph, never written through or waited on; :func:`check_folder` looks at every entry dasuite
writes before a run (or Hydra) writes anything.

metrics.jsonl is appended before the epoch's checkpoint is saved, so a run killed in between has
one line more than its checkpoint: :meth:`RunFolder.truncate_metrics` drops it when the run resumes. Each
checkpoint carries the last record written before it, so a line a crash cut short is written again from it.

One writer per run folder: :func:`exclusive` holds the folder's ``.dasuite.lock`` (``flock``, which
the OS releases when the process ends, even by SIGKILL) while a run writes; a second process asking
for it stops with the holder's pid and host, before it changes anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import shutil
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from dasuite.errors import ConfigError
from dasuite.safe_files import (LOCK_FILE, TEMPORARY_NAME, append, check_folder_writable, is_present, make_dirs,
                                open_read, refuse_write, what_is, write_atomic, write_error)

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None

#: The files of a run folder that dasuite (or Hydra, for .hydra/ and the job's log) writes in place or reads,
#: and the folders it writes into: :func:`check_folder` refuses a link, pipe or device at any of them.
FILES = (LOCK_FILE, "summary.json", "metrics.jsonl", "target_labels.json", ".hydra/config.yaml",
         ".hydra/hydra.yaml", ".hydra/overrides.yaml", "checkpoints/last.pt", "checkpoints/best.pt")
FOLDERS = (".hydra", "checkpoints", "plots", "predictions", "eval", "export", "tensorboard", "mlruns")
#: The run folders this process holds: resolved path -> [lock file descriptor, nesting depth].
_HELD: dict[Path, list[int]] = {}


class RunFolderBusy(ConfigError):
    """Another live process holds the run folder's lock."""


@contextlib.contextmanager
def exclusive(folder: str | os.PathLike) -> Iterator[None]:
    """Hold ``folder``'s lock while the block runs (nested holds by this process are fine). Another live
    process holding it raises :class:`RunFolderBusy`, naming it; the folder is left as it was."""
    key = Path(folder).resolve()
    if key not in _HELD:
        _HELD[key] = [_lock(key), 0]
    _HELD[key][1] += 1
    try:
        yield
    finally:
        held = _HELD[key]
        held[1] -= 1
        if held[1] == 0:
            del _HELD[key]
            if held[0] is not None:
                os.close(held[0])  # releases the flock; the file stays (removing it would race a new holder)


def _lock(folder: Path) -> int | None:
    """The descriptor of ``folder``'s lock file, locked by this process (None where locking is unavailable)."""
    if fcntl is None:
        return None
    make_dirs(folder)
    path = folder / LOCK_FILE
    what = what_is(path)
    if what is not None:  # a planted link would have the holder's line written into the file it points to
        raise refuse_write(path, what)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK, 0o666)
    except OSError as error:
        if write_error(path, error) is not None:  # a read-only folder: nothing will be written there either
            raise write_error(path, error) from None
        logging.getLogger(__name__).warning("cannot create %s (%s): the run folder is not locked against a "
                                            "second writer", path, error)
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped in since the look above
        os.close(fd)
        raise refuse_write(path, what_is(path) or "not a regular file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise RunFolderBusy(
            f"the run folder {folder} is being written by another dasuite process ({holder}); a second writer "
            "would mix its metrics, checkpoints and summary into that run's. Wait until that process ends (or "
            "stop it), or train into another folder; nothing in the folder was changed.") from None
    except OSError as error:  # a file system without locks
        logging.getLogger(__name__).warning("cannot lock %s (%s): the run folder is not locked against a second "
                                            "writer", folder / LOCK_FILE, error)
        os.close(fd)
        return None
    with contextlib.suppress(OSError):  # who holds it, for the message of a second writer
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                                 "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:500]}).encode())
    return fd


def check_folder(folder: str | os.PathLike) -> None:
    """An :class:`~dasuite.safe_files.UnsafeFile` naming the first entry of the run folder ``folder`` that
    dasuite or Hydra writes or reads (:data:`FILES`, :data:`FOLDERS`, the job's ``*.log``) and that is a
    symbolic link, a pipe or device, or a file where a folder goes; also when the folder is read-only.
    A folder that does not exist yet passes."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for name in FOLDERS:
        path = folder / name
        if os.path.lexists(path) and not stat.S_ISDIR(os.lstat(path).st_mode):
            raise refuse_write(path, what_is(path) or "a file where dasuite keeps a folder")
    for path in [*(folder / name for name in FILES), *folder.glob("*.log")]:
        what = what_is(path)
        if what is not None:
            raise refuse_write(path, what)
    check_folder_writable(folder)


def writer(folder: str | os.PathLike) -> str | None:
    """Who writes ``folder`` now (pid, host, start and command, from its lock file), or None when no live
    process holds its lock (a finished, failed or killed run; or a folder without a lock)."""
    path = Path(folder) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released at once below: only asks whether it is held
    except BlockingIOError:
        return _holder(fd)
    except OSError:  # a file system without locks
        return None
    finally:
        os.close(fd)
    return None


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file's content (written right after it was taken)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0))
        return (f"pid {info['pid']} on host {info['host']}, started {info['started']}: "
                f"{info.get('command', 'dasuite')}")
    except (OSError, ValueError, TypeError, KeyError):
        return f"its {LOCK_FILE} does not name it yet"


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
    """metrics.jsonl's records, without a last line cut short by a crash mid-append (torch-free, for report).
    Any other line that is not a JSON record, or a record whose epoch does not follow the one before (two runs'
    records in one file), is a ConfigError naming the file and the line."""
    if not is_present(file):
        return []
    with open_read(file) as f:
        lines = [(number, line) for number, line in enumerate(f, 1) if line.strip()]
    records = []
    for i, (number, line) in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8
            if i == len(lines) - 1 and not line.endswith(b"\n"):
                break  # cut short by a crash mid-append: resume drops it
            raise ConfigError(f"{file} line {number} is not a JSON record ({error}): the file was damaged or edited. "
                              "dasuite changes nothing in it (resume stops here too): delete or repair that line and "
                              "run again (resume rewrites the lines after its checkpoint's epoch anyway).") from None
        if type(record.get("epoch", 0) if isinstance(record, dict) else None) is not int:
            raise ConfigError(f"{file} line {number} is not a metrics record (an object with an integer \"epoch\"): "
                              "the file was damaged or edited. dasuite changes nothing in it (resume stops here "
                              "too): delete or repair that line and run again.")
        if records and "epoch" in record and "epoch" in records[-1] and record["epoch"] <= records[-1]["epoch"]:
            raise ConfigError(f"{file} line {number} records epoch {record['epoch']} after epoch "
                              f"{records[-1]['epoch']}: the file mixes the records of more than one run (a new "
                              "run written into an older run's folder, by dasuite before it refused to), so no number "
                              "in it can be trusted. dasuite changes nothing in it; train that run again into a folder "
                              "of its own.")
        records.append(record)
    return records


class RunFolder:
    """One run's output directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        make_dirs(self.path)
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
        line = json.dumps({k: _json_safe(v) for k, v in record.items()}) + "\n"
        append(self.metrics_file, line.encode("utf-8"), within=self.path)
        if self.logger is not None:
            self.logger.log_metrics(record, record["epoch"])

    def read_metrics(self) -> list[dict]:
        """The records, without a last line cut short by a crash mid-append."""
        return read_metrics(self.metrics_file)

    def truncate_metrics(self, epochs: int, last: dict | None = None) -> bool:
        """Keep the records of the first ``epochs`` epochs (rewritten atomically, without a torn last line).
        ``last``: the last record written before the checkpoint being resumed (it carries it), written again when
        the file has lost it (a crash cut its line short); returns whether it was."""
        records = self.read_metrics()
        kept = [r for r in records if r.get("epoch", 0) <= epochs]
        restored = last is not None and last.get("epoch") not in {r.get("epoch") for r in kept}
        if restored:
            kept = sorted([*kept, {k: _json_safe(v) for k, v in last.items()}], key=lambda r: r.get("epoch", 0))
        if is_present(self.metrics_file) or restored:
            write_atomic(self.metrics_file, "".join(json.dumps(r) + "\n" for r in kept), within=self.path)
        return restored

    def remove_temporary_files(self) -> None:
        """The temporary files of atomic writes a crash cut short (the target files are intact), in the folder,
        ``checkpoints/`` and ``.hydra/``: only entries named as :func:`~dasuite.safe_files.write_atomic` names
        them (:data:`~dasuite.safe_files.TEMPORARY_NAME`), and never a folder."""
        folders = [self.path, *(self.path / name for name in ("checkpoints", ".hydra")
                                if what_is(self.path / name) == "a folder")]
        for folder in folders:
            for name in os.listdir(folder):
                if TEMPORARY_NAME.match(name) and what_is(folder / name) != "a folder":
                    (folder / name).unlink(missing_ok=True)

    def write_summary(self, summary: dict) -> None:
        text = json.dumps({k: _json_safe(v) for k, v in summary.items()}, indent=2) + "\n"
        write_atomic(self.summary_file, text, within=self.path)
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

        write_atomic(path, lambda f: torch.save(state, f), within=self.path)
        return path

    def copy_checkpoint(self, source: str, name: str) -> Path:
        """``checkpoints/<source>`` copied, atomically, to ``checkpoints/<name>`` (e.g. last.pt -> best.pt)."""
        path = self.checkpoints / name
        with open_read(self.checkpoints / source) as original:
            write_atomic(path, lambda f: shutil.copyfileobj(original, f, 1 << 20), within=self.path)
        return path
