"""Finding dataset files under ``data_root``, and fetching them only when asked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dasuite.errors import ConfigError


def expand_root(data_root: str | Path) -> Path:
    return Path(str(data_root)).expanduser()


def first_existing(candidates: Sequence[Path]) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def missing(what: str, expected: Sequence[Path], hint: str = "") -> ConfigError:
    """The error for dataset files that are not where dasuite looks for them."""
    where = "; ".join(str(p) for p in expected)
    return ConfigError(f"{what} not found: expected {where}. {hint}Set download=true to fetch them (needs "
                       "internet), or point data_root= at the folder that holds them.")


def download(what: str, fetch: Callable[[], object]) -> None:
    """Run torchvision's download for ``what``; a network failure becomes a clear error."""
    try:
        fetch()
    except (OSError, RuntimeError) as error:  # URLError is an OSError
        raise ConfigError(f"downloading {what} failed ({type(error).__name__}: {error}). Check the internet "
                          "connection, or place the files under data_root by hand.") from error


def corrupted(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"{path} is not a valid dataset file: {problem}. Delete it and fetch it again "
                       "(download=true), or replace it.")
