"""Which folder a new run or sweep may take, and what a run that never started leaves: a folder that does not exist,
is empty or holds only dasuite's lock file (:func:`refusal` says why another is refused), no symbolic link, pipe
or device where dasuite or Hydra writes (:func:`check_links`), and the entries found there before (:class:`Before`)
so that :func:`remove_created` removes only what the command made. ``dasuite train`` applies it before Hydra writes
(:mod:`dasuite.commands.train_folders`), :func:`dasuite.fit` and :func:`dasuite.train` before they write."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dasuite.safe_files import LOCK_FILE, refuse_write, what_is

#: What a run writes that marks its folder as a run's.
RUN_FILES = (".hydra", "summary.json", "metrics.jsonl", "checkpoints")
#: A run's results: clean-up never removes a file of these names, nor a folder holding one.
RESULTS = ("summary.json", "metrics.jsonl", "last.pt")
#: Besides its numbered job folders, what a ``hydra/sweeper=dasuite_optuna`` sweep folder may hold.
OPTUNA_SWEEP_FILES = (LOCK_FILE, "optuna.db", "optuna.db-journal", "optimization_results.yaml")

@dataclass(frozen=True)
class Before:
    """A folder as the command found it: its entries (None: it did not exist) and the deepest of its parents
    that existed (those below it were made for the command)."""

    names: frozenset[str] | None
    anchor: Path


def snapshot(folder: Path) -> Before:
    anchor = folder
    while not anchor.exists() and anchor.parent != anchor:
        anchor = anchor.parent
    if anchor != folder:
        return Before(None, anchor)
    return Before(frozenset(os.listdir(folder)) if folder.is_dir() else frozenset({folder.name}), folder.parent)


def refusal(key: str, folder: Path, before: Before, optuna_sweep: bool = False) -> str | None:
    """The paragraph that refuses ``folder`` (named by ``key``) to a new run or sweep, or None where it may write."""
    names = before.names
    if names is None or names <= {LOCK_FILE}:
        return None
    if not folder.is_dir():
        return f"{key}={folder} is a file, not a folder: give another {key}. Nothing was written."
    if optuna_sweep and all(name in OPTUNA_SWEEP_FILES or name.startswith("report")
                            or (name.isdigit() and (folder / name).is_dir()) for name in names):
        return None
    listed = sorted(names - {LOCK_FILE})
    shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
    new = "sweep" if key == "hydra.sweep.dir" else "run"
    if names & set(RUN_FILES):
        what, resume = "another run", True
    elif "multirun.yaml" in names or any(name.isdigit() for name in names):
        what, resume = "a sweep", True
    else:
        what, resume = "files that are not a run's", False
    why = (" (a hydra/sweeper=dasuite_optuna sweep goes on only in a folder of its own earlier sweeps: numbered job "
           "folders, optuna.db, optimization_results.yaml)" if optuna_sweep else "")
    go_on = f"Continue it with `dasuite train resume={folder}` (trainer.epochs=N extends it), or give" if resume \
        else "Give"
    return (f"{key}={folder} holds {what} ({shown}); a new {new} writes only into a new or empty folder, so that "
            f"nothing already there is overwritten or mixed into its records{why}. {go_on} another folder ({key}=DIR, "
            f"or leave {key} out for a new dated one). Nothing was written.")


def remove_created(folder: Path, before: Before) -> None:
    """Remove what the command created: ``folder`` and the parents made for it when it did not exist, else the
    entries it did not hold. Never a run's results (a summary, metrics, a checkpoint), nor a file still open
    elsewhere (Windows)."""
    try:
        if before.names is not None:
            for name in set(os.listdir(folder)) - before.names:
                entry = folder / name
                if _holds_results(entry):
                    continue
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            return
        if _holds_results(folder):
            return
        shutil.rmtree(folder)
        parent = folder.parent
        while parent != before.anchor and before.anchor in parent.parents:
            parent.rmdir()  # OSError when not empty: another run's folder, or the user's files
            parent = parent.parent
    except OSError:
        return


def _holds_results(entry: Path) -> bool:
    if not entry.is_dir() or entry.is_symlink():
        return entry.name in RESULTS
    return any(next(entry.rglob(name), None) is not None for name in RESULTS)


def check_links(folder: Path, sweep: bool) -> None:
    """An :class:`~dasuite.safe_files.UnsafeFile` for a symbolic link, pipe or device where this command or Hydra
    writes: the run folder's files (:func:`~dasuite.engine.run_folder.check_folder`); a sweep's multirun.yaml and
    its job folders."""
    from dasuite.engine.run_folder import check_folder  # lazily: help and key errors import no run folder code

    check_folder(folder)
    if not sweep or not folder.is_dir():
        return
    what = what_is(folder / "multirun.yaml")
    if what is not None:
        raise refuse_write(folder / "multirun.yaml", what)
    for job in folder.iterdir():
        if job.is_symlink() and job.is_dir():  # a job folder elsewhere: Hydra would write there
            raise refuse_write(job, what_is(job))
        if os.path.lexists(job / ".hydra"):
            check_folder(job)
