"""The folders ``dasuite train`` writes: a new run or sweep only into a folder of its own, and a run that never
started leaves them as it found them.

Hydra writes into the run folder just before the job function runs: it makes the folder (and its parents),
opens the job's log (``train.log``, appended to), then writes ``.hydra/config.yaml``, ``hydra.yaml`` and
``overrides.yaml``; a basic sweep writes ``multirun.yaml`` into its sweep folder first. :class:`AdmitFolder`, a Hydra
callback (``hydra.callbacks`` in configs/config.yaml), runs before all of that and looks at the folder
``hydra.run.dir`` (with ``-m``: ``hydra.sweep.dir``) names:

- a new run or sweep takes a folder that does not exist, is empty or holds only dasuite's lock file;
- a ``hydra/sweeper=dasuite_optuna`` sweep also takes its own sweep folder again (job folders, the study, its
  results and reports): it adds jobs in new job folders (:mod:`dasuite.config.optuna_resume`);
- ``resume=DIR`` takes the run or sweep it continues.

Any other folder is refused with one paragraph (exit status 2) before anything is written, and so is, for every
command (resume too), a symbolic link, pipe or device where dasuite or Hydra writes (:func:`check_links`) and a
folder this process cannot write. The admitted folder is
locked (:func:`~dasuite.engine.run_folder.exclusive`) until the command ends, and what it held is recorded
(:class:`Before`), so that a run that never started (a config error) removes only what the command created
(:func:`remove_created`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from dasuite.errors import Refused
from dasuite.safe_files import LOCK_FILE, UnsafeFile, check_folder_writable, refuse_write, what_is

#: What a run writes that marks its folder as a run's.
RUN_FILES = (".hydra", "summary.json", "metrics.jsonl", "checkpoints")
#: A run's results: clean-up never removes a file of these names, nor a folder holding one.
RESULTS = ("summary.json", "metrics.jsonl", "last.pt")
#: Besides its numbered job folders, what a ``hydra/sweeper=dasuite_optuna`` sweep folder may hold.
OPTUNA_SWEEP_FILES = (LOCK_FILE, "optuna.db", "optuna.db-journal", "optimization_results.yaml")
#: The lock of the admitted folder, held until :func:`release_folder` (module state: launchers that run jobs in
#: other processes pickle the command's state, and a held lock cannot travel).
_HELD = contextlib.ExitStack()


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


def foreign_entries(folder: Path, prepared: tuple[str, ...] = ()) -> list[str]:
    """What ``folder`` holds besides the lock and the files Hydra (or ``prepared``: :func:`dasuite.train`) wrote for
    the job now starting (``.hydra/`` with its three files and the job's log): the entries a new run would mix its
    own into."""
    from hydra.core.hydra_config import HydraConfig

    if not folder.is_dir():
        return []
    ours = {LOCK_FILE, *prepared}
    if HydraConfig.initialized():
        hydra = HydraConfig.get()
        ours.add(f"{hydra.job.name}.log")
        subdir = None if hydra.output_subdir is None else folder / str(hydra.output_subdir)
        if subdir is not None and subdir.is_dir() \
                and set(os.listdir(subdir)) <= {"config.yaml", "hydra.yaml", "overrides.yaml"}:
            ours.add(subdir.name)
    return sorted(set(os.listdir(folder)) - ours)


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


class AdmitFolder(Callback):
    """Hydra's hooks before a run's or sweep's first write: refuse a folder a new one may not take, lock the
    folder and record what it holds (in :data:`dasuite.commands.train.CURRENT`)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _admit(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _admit(config, "hydra.sweep.dir")


def check_links(folder: Path, sweep: bool) -> None:
    """An :class:`~dasuite.safe_files.UnsafeFile` for a symbolic link, pipe or device where this command or Hydra
    writes: the run folder's files (:func:`~dasuite.engine.run_folder.check_folder`); a sweep's multirun.yaml and
    its job folders."""
    from dasuite.engine.run_folder import check_folder  # lazily: help and key errors import no engine

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


def _admit(config: DictConfig, key: str) -> None:
    from dasuite.commands import train
    from dasuite.engine.distributed import is_main
    from dasuite.engine.run_folder import RunFolderBusy, exclusive, writer

    command = train.CURRENT
    try:
        folder = Path(os.path.abspath(str(OmegaConf.select(config, key))))  # as Hydra makes it
    except Exception:  # noqa: BLE001 - a folder Hydra cannot resolve: Hydra says so itself
        folder = None
    problem = None
    if folder is not None and is_main():  # under torchrun, rank 0 writes the folder and decides for every rank
        before = snapshot(folder)
        try:
            check_links(folder, sweep=key == "hydra.sweep.dir")
            if before.names is None:  # made for the command: its deepest existing parent must take it
                check_folder_writable(before.anchor, f" ({key}=DIR names the folder to write.)")
            if not command.resuming and writer(folder) is None:  # a folder in use: exclusive() names its writer
                sweeper = OmegaConf.select(config, "hydra.runtime.choices", default={}).get("hydra/sweeper")
                problem = refusal(key, folder, before, optuna_sweep=sweeper == "dasuite_optuna")
            if problem is None:
                _HELD.enter_context(exclusive(folder))
                command.before[folder] = before
                command.sweep = folder if key == "hydra.sweep.dir" else None
        except (RunFolderBusy, UnsafeFile) as error:  # in use; a link, pipe or device; a read-only folder
            problem = str(error)
    problem = _agreed(problem)
    if problem is not None:
        raise Refused(problem)


def release_folder() -> None:
    """Let go of the admitted folder's lock (the command has ended)."""
    _HELD.close()


def _agreed(problem: str | None) -> str | None:
    """Rank 0's verdict, on every rank of a torchrun launch."""
    from dasuite.engine.distributed import launched

    if not launched():
        return problem
    import torch.distributed as dist

    verdict = [problem]
    dist.broadcast_object_list(verdict, src=0)
    return verdict[0]
