"""Reading and writing a run folder's files so that nothing planted in the folder is followed or waited on.

A run folder may come from someone else, and any of its entries may be a symbolic link, a named pipe or
a device instead of the file dasuite wrote. So:

- a write (:func:`write_atomic`) refuses a path whose entry is a symbolic link or anything but a regular
  file, and a folder on the way below ``within`` (the run folder) that is a symbolic link; it writes a
  temporary file beside the path (``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 0666 less the umask), fsyncs it
  and renames it onto the path, so a failed write leaves the previous file, or none, never a partial one;
- an append (:func:`append`) opens with ``O_APPEND|O_NOFOLLOW`` and checks it got a regular file;
- a read (:func:`open_read`) opens with ``O_NONBLOCK`` and checks ``fstat``: a named pipe, socket, device
  or folder is refused at once instead of blocking (a symbolic link to a regular file is read).

Every refusal, and a write that fails for a full disk or a read-only folder, is an :class:`UnsafeFile`: a
ConfigError of one paragraph naming the path and what it is. Standard library only (``dasuite report``
uses it without torch).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO

from dasuite.errors import ConfigError

#: The lock file of a run folder: one process writes a run folder at a time (engine/run_folder.py).
LOCK_FILE = ".dasuite.lock"

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


#: The name of a temporary file of :func:`write_atomic` (``.<name>.<8 hex digits>.tmp``).
TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp\Z")


class UnsafeFile(ConfigError):
    """A run-folder entry dasuite will not read or write as it is (a link, a pipe, a device), or a write
    that failed for want of space or permission."""


def what_is(path: Path) -> str | None:
    """What ``path``'s own entry is, in words, when it is neither absent nor a regular file (links not
    followed): "a symbolic link to X", "a named pipe (FIFO)", "a folder", ...; else None."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(mode):
        with contextlib.suppress(OSError):
            return f"a symbolic link to {os.readlink(path)}"
        return "a symbolic link"
    return None if stat.S_ISREG(mode) else _kind(mode)


def _kind(mode: int) -> str | None:
    """A file type in words (None for a regular file)."""
    for test, words in ((stat.S_ISREG, None), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device")):
        if test(mode):
            return words
    return "not a regular file"


def refuse_write(path: Path, what: str) -> UnsafeFile:
    return UnsafeFile(f"cannot write {path}: it is {what}, not a regular file. dasuite writes a run folder's files "
                      "only as regular files it replaces, never through a link or into a pipe or device (that would "
                      "change a file outside the folder, or wait forever); nothing was changed. Remove or rename "
                      f"{path.name} (or work on a copy of the folder), and run the command again.")


def refuse_read(path: Path, what: str) -> UnsafeFile:
    return UnsafeFile(f"cannot read {path}: it is {what}, not a regular file (reading it could wait forever or read "
                      "a device); nothing was read or changed. Put back the file dasuite wrote there, or remove it.")


def check_writable(path: Path, within: Path | None = None) -> None:
    """An :class:`UnsafeFile` unless ``path`` is absent or a regular file, and every folder between ``within``
    and it is absent or a real folder (not a symbolic link)."""
    path = Path(path)
    _check_folders(path.parent, within)
    what = what_is(path)
    if what is not None:
        raise refuse_write(path, what)


def _check_folders(folder: Path, within: Path | None) -> None:
    """Refuse a link or a file at any of the folders from just below ``within`` down to ``folder``."""
    try:
        parts = folder.relative_to(within).parts if within is not None else ()
    except ValueError:  # not below it
        parts = ()
    for i in range(1, len(parts) + 1):
        part = Path(within).joinpath(*parts[:i])
        what = what_is(part)
        if what is not None and what != "a folder":
            raise refuse_write(part, what)


def check_folder_writable(folder: Path, hint: str = "") -> None:
    """An :class:`UnsafeFile` when ``folder`` (which exists) is read-only for this process: the paragraph a write
    there would give (and ``hint``), before anything is written."""
    if not os.access(folder, os.W_OK):
        code = errno.EROFS if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY else errno.EACCES
        raise UnsafeFile(f"{write_error(Path(folder), OSError(code, os.strerror(code)))}{hint}")


def make_dirs(folder: Path, within: Path | None = None) -> None:
    """Create ``folder`` and its parents; one below ``within`` that is a symbolic link or a file is refused."""
    folder = Path(folder)
    _check_folders(folder, within)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file, or a link to no folder, where a folder goes
        raise refuse_write(folder, what_is(folder) or "a file") from None
    except OSError as error:
        raise write_error(folder, error) or error from None


def write_atomic(path: Path, data: bytes | str | Callable[[IO[bytes]], None], within: Path | None = None) -> None:
    """Replace ``path`` with ``data`` (bytes, text as UTF-8, or a function writing to a binary file) through a
    temporary file beside it (``.<name>.<random>.tmp``), fsynced, then renamed onto it; on an error the
    temporary file is removed, and a full disk or a read-only folder is an :class:`UnsafeFile`. See the
    module docstring for what is refused."""
    path = Path(path)
    check_writable(path, within)
    make_dirs(path.parent, within)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # TEMPORARY_NAME
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY, 0o666)
    except OSError as error:
        raise write_error(path, error) or error from None
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        check_writable(path, within)  # again, just before the rename
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        clear = write_error(path, error)
        if clear is not None:
            raise clear from error
        raise


def append(path: Path, data: bytes, within: Path | None = None) -> None:
    """Append ``data`` to ``path`` (created if absent), refusing a link, pipe or device there."""
    fd = _open_append(Path(path), within)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as error:
        raise write_error(path, error) or error from None
    finally:
        os.close(fd)


def open_append(path: Path, within: Path | None = None) -> IO:
    """``path`` opened to append UTF-8 text (created if absent), refusing a link, pipe or device there."""
    fd = _open_append(Path(path), within)
    try:
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "a", encoding="utf-8")


def _open_append(path: Path, within: Path | None) -> int:
    """A descriptor appending to ``path`` (created if absent), opened without following a link or waiting on a
    pipe; a link, pipe or device there is an :class:`UnsafeFile`."""
    check_writable(path, within)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _NONBLOCK | _CLOEXEC | _BINARY
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as error:
        raise _open_error(path, error, refuse_write) from None
    try:
        what = _kind(os.fstat(fd).st_mode)
        if what is not None:
            raise refuse_write(path, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_read(path: Path, text: bool = False) -> IO:
    """``path`` opened for reading (binary, or UTF-8 text); a named pipe, socket, device or folder there (or
    behind a link) is an :class:`UnsafeFile` at once. A missing file raises FileNotFoundError as open() does."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _NOCTTY | _CLOEXEC | _BINARY)
    except OSError as error:
        raise _open_error(path, error, refuse_read) from None
    try:
        what = _kind(os.fstat(fd).st_mode)
        if what is not None:
            raise refuse_read(path, what)
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "r", encoding="utf-8") if text else os.fdopen(fd, "rb")


def read_bytes(path: Path) -> bytes:
    with open_read(path) as f:
        return f.read()


def read_text(path: Path) -> str:
    with open_read(path, text=True) as f:
        return f.read()


def is_present(path: Path) -> bool:
    """Whether ``path`` holds a file to read (following links): False when absent, True for a regular file; a
    pipe, socket, device, folder or a link to nothing there is an :class:`UnsafeFile`."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # NotADirectory: a file where a folder on the way should be
        what = what_is(Path(path))
        if what is None:
            return False
        raise refuse_read(Path(path), f"{what}, which does not exist") from None
    except OSError as error:
        raise _open_error(Path(path), error, refuse_read) from None
    what = _kind(mode)
    if what is not None:
        raise refuse_read(Path(path), what)
    return True


def _open_error(path: Path, error: OSError, refuse: Callable[[Path, str], UnsafeFile]) -> OSError | UnsafeFile:
    """The error to raise for ``open(path)`` failing with ``error``: a refusal for a link (O_NOFOLLOW), a pipe
    without a reader (O_NONBLOCK) or a link loop; a paragraph for a read-only folder or full disk; else itself."""
    if error.errno == errno.ELOOP:
        return refuse(path, what_is(path) or "a symbolic link")
    if error.errno == errno.ENXIO:
        return refuse(path, what_is(path) or "a named pipe (FIFO)")
    if refuse is refuse_write:
        return write_error(path, error) or error
    return error


def write_error(path: Path, error: BaseException) -> UnsafeFile | None:
    """A paragraph for a write of ``path`` that failed for want of space (``ENOSPC``/``EDQUOT`` anywhere in the
    chain, or torch.save's "enforce fail at inline_container" when its file write failed) or of permission
    (a read-only folder or file system), else None."""
    if isinstance(error, UnsafeFile):
        return None
    chain, cause = [], error
    while cause is not None and len(chain) < 5:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    codes = {e.errno for e in chain if isinstance(e, OSError)}
    if codes & set(_READ_ONLY):
        reason = next(e.strerror for e in chain if isinstance(e, OSError) and e.errno in _READ_ONLY)
        return UnsafeFile(f"cannot write {path}: {reason} (the folder or file system is read-only, or not yours). "
                          "Nothing was changed there. Make it writable, or write elsewhere (a copy of the run "
                          "folder, or the command's output option), and run the command again.")
    no_space = bool(codes & set(_NO_SPACE))
    if not no_space and not any(isinstance(e, RuntimeError) and "inline_container" in str(e) for e in chain):
        return None
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2 ** 20:.1f} MiB free there now"
    except OSError:
        free = "free space unknown"
    what = "the disk is full" if no_space else f"writing failed ({error}), most likely for want of disk space"
    return UnsafeFile(f"cannot write {path}: {what} ({free}). Its previous version, if any, is intact (files are "
                      "written to a temporary file and renamed). Free some space, or write elsewhere, and run "
                      "the command again (a stopped training continues with dasuite train resume=RUN_DIR).")
