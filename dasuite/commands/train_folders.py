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
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from dasuite.folder_admission import Before, check_links, refusal, remove_created, snapshot
from dasuite.errors import Refused
from dasuite.safe_files import LOCK_FILE, UnsafeFile, check_folder_writable

__all__ = ["AdmitFolder", "Before", "foreign_entries", "release_folder", "remove_created"]

#: The lock of the admitted folder, held until :func:`release_folder` (module state: launchers that run jobs in
#: other processes pickle the command's state, and a held lock cannot travel).
_HELD = contextlib.ExitStack()


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


class AdmitFolder(Callback):
    """Hydra's hooks before a run's or sweep's first write: refuse a folder a new one may not take, lock the
    folder and record what it holds (in :data:`dasuite.commands.train.CURRENT`)."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _admit(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _admit(config, "hydra.sweep.dir")


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
