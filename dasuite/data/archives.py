"""Fetching a dataset's published files into ``data_root`` (only with ``download=true``), checked and unpacked.

Each file is streamed to ``<name>.part`` with a network timeout (never a hang), then checked: its
size against the server's Content-Length, and its MD5 where the peers' loaders publish one. An
archive (.zip, .tar, .tar.gz, .tgz) is then unpacked with every member checked first: regular
files and folders only, none whose path leaves the destination folder. The archive's own checksums
(zip CRC-32, gzip trailer) are verified while it is read; it is deleted once unpacked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from dasuite.errors import ConfigError

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
TIMEOUT_S = 60  # per network read: a dead connection fails instead of hanging


@dataclass(frozen=True)
class Remote:
    """A published file: where it comes from, the name it is saved as, and its MD5 when known."""

    url: str
    file: str
    md5: str | None = None

    @property
    def is_archive(self) -> bool:
        return self.file.endswith(ARCHIVE_SUFFIXES)


def fetch(remote: Remote, folder: Path) -> None:
    """Download ``remote`` into ``folder``, check it, and unpack it there when it is an archive."""
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    path, part = folder / remote.file, folder / f"{remote.file}.part"
    path.parent.mkdir(parents=True, exist_ok=True)
    log.warning("downloading %s to %s", remote.url, path)
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(remote.url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
            expected = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
    except OSError as error:  # URLError, timeouts and disk errors are all OSErrors
        part.unlink(missing_ok=True)
        raise ConfigError(f"downloading {remote.url} failed ({type(error).__name__}: {error}). Check the internet "
                          f"connection, or download the file by hand to {path}"
                          f"{' and unpack it there' if remote.is_archive else ''}.") from error
    size = part.stat().st_size
    if expected is not None and int(expected) != size:
        part.unlink()
        raise ConfigError(f"the download of {remote.url} is incomplete: {size} of {expected} bytes. Try again.")
    if remote.md5 is not None and digest.hexdigest() != remote.md5:
        part.unlink()
        raise ConfigError(f"the download of {remote.url} has MD5 {digest.hexdigest()}, not the published "
                          f"{remote.md5}: the file is damaged or has changed. Try again, or fetch it by hand.")
    os.replace(part, path)
    if remote.is_archive:
        unpack(path, folder)
        path.unlink()


def unpack(archive: Path, folder: Path) -> None:
    """Extract ``archive`` into ``folder`` after checking that no member escapes it."""
    root = folder.resolve()
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as bundle:
                for name in bundle.namelist():
                    _inside(root, name, archive)
                for member in bundle.infolist():  # reading checks each member's CRC-32
                    bundle.extract(member, root)
        else:
            with tarfile.open(archive) as bundle:
                members = bundle.getmembers()  # reads the whole archive: a truncated one fails here
                for member in members:
                    _inside(root, member.name, archive)
                    if not (member.isfile() or member.isdir()):
                        raise ConfigError(f"{archive} holds {member.name!r}, which is not a plain file or folder "
                                          "(a link or device); it is not unpacked. Check where the archive came from.")
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                bundle.extractall(root, members=members, **extra)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        raise ConfigError(f"{archive} is not a complete archive ({type(error).__name__}: {error}). Delete it and "
                          "fetch it again (download=true).") from error


def _inside(root: Path, name: str, archive: Path) -> None:
    target = (root / name).resolve()
    if os.path.isabs(name) or not target.is_relative_to(root):
        raise ConfigError(f"{archive} holds the path {name!r}, which leads outside {root}; it is not unpacked. "
                          "Check where the archive came from.")

