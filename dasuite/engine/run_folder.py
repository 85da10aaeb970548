"""The files a run leaves behind (the run-folder contract of docs/architecture.md and docs/runs.md).

Hydra writes ``.hydra/`` and ``train.log``; this module writes ``metrics.jsonl`` (appended once
per evaluation), ``summary.json`` and ``checkpoints/*.pt`` (both replaced atomically: written to
a temporary file and renamed, so a crash mid-write leaves the previous good file) and ``plots/``.
Files get the permissions the user's umask gives (a teammate can read a run meant to be shared), and
a full disk fails with one paragraph naming the file and the free space.

metrics.jsonl is appended before the epoch's checkpoint is saved, so a run killed in between has
one line more than its checkpoint: :meth:`RunFolder.truncate_metrics` drops it when the run resumes.

One writer per run folder: :func:`exclusive` holds the folder's ``.dasuite.lock`` (``flock``, which
the OS releases when the process ends, even by SIGKILL) while a run writes; a second process asking
for it stops with the holder's pid and host, before it changes anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import math
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from dasuite.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked
    fcntl = None

LOCK_FILE = ".dasuite.lock"
#: The run folders this process holds: resolved path -> [lock file descriptor, nesting depth].
_HELD: dict[Path, list[int]] = {}


class RunFolderBusy(ConfigError):
    """Another live process holds the run folder's lock."""


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it onto ``path`` (with the
    permissions the umask gives a new file). A full disk is a ConfigError naming ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        full = _disk_full(path, error)
        if full is not None:
            raise full from error
        raise


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (os.umask can only set it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _disk_full(path: Path, error: BaseException) -> ConfigError | None:
    """A paragraph for a write that failed for want of space (``ENOSPC``/``EDQUOT`` anywhere in the
    chain, or torch.save's "enforce fail at inline_container" when its file write failed), else None."""
    chain, cause = [], error
    while cause is not None and len(chain) < 5:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    no_space = any(isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT) for e in chain)
    if not no_space and not any(isinstance(e, RuntimeError) and "inline_container" in str(e) for e in chain):
        return None
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2 ** 20:.1f} MiB free there now"
    except OSError:
        free = "free space unknown"
    what = "the disk is full" if no_space else f"writing failed ({error}), most likely for want of disk space"
    return ConfigError(f"cannot write {path}: {what} ({free}). Its previous version, if any, is intact (files are "
                       "written to a temporary file and renamed). Free some space, or write elsewhere, and run "
                       "the command again (a stopped training continues with dasuite train resume=RUN_DIR).")


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
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        logging.getLogger(__name__).warning("cannot create %s (%s): the run folder is not locked against a "
                                            "second writer", folder / LOCK_FILE, error)
        return None
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


def writer(folder: str | os.PathLike) -> str | None:
    """Who writes ``folder`` now (pid, host, start and command, from its lock file), or None when no live
    process holds its lock (a finished, failed or killed run; or a folder without a lock)."""
    path = Path(folder) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
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
    if not file.is_file():
        return []
    with open(file, "rb") as f:
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
        try:
            with open(self.metrics_file, "a", encoding="utf-8") as f:
                f.write(json.dumps({k: _json_safe(v) for k, v in record.items()}) + "\n")
        except OSError as error:
            full = _disk_full(self.metrics_file, error)
            if full is None:
                raise
            raise full from error
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
        if self.metrics_file.exists() or restored:
            text = "".join(json.dumps(r) + "\n" for r in kept)
            atomic_write(self.metrics_file, lambda f: f.write(text.encode("utf-8")))
        return restored

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
