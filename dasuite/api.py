"""dasuite from Python (a notebook, a script): train a run, load a finished one, evaluate it.

``fit(method, data, trainer)`` trains objects you built (your own method, your own tensors);
``train(overrides)`` builds them from the configs as ``dasuite train OVERRIDES`` does (the same key checks,
configs and run folder files), in this process, and returns the :class:`Run`; ``load_run(folder)`` opens a
finished run folder; ``evaluate(run)`` is ``dasuite eval``. None of them reads ``sys.argv`` or sets process-wide
state. Example (docs/api.md)::

    from dasuite import evaluate, train

    run = train(["dataset=moons", "method=dann", "trainer.epochs=5"], run_dir="runs/notebook")
    run.summary["target_acc"], run.metrics[-1]["val/im"]
    run.predict(x)                       # class probabilities of raw inputs
    evaluate(run)["accuracy"]

Importing this module imports neither torch nor Hydra; each function does, when called.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

from dasuite.errors import ConfigError
from dasuite.run import Run
from dasuite.safe_files import is_present, read_text

__all__ = ["Run", "evaluate", "fit", "load_run", "seed_everything", "train"]


def fit(method, data, trainer=None, *, run_dir: str | Path | None = None, seed: int = 0, init_from=None,
        init_checkpoint: str = "last", logger=None) -> Run:
    """Train a :class:`~dasuite.methods.base.Method` you built on a :class:`~dasuite.data.pair.DomainPair` with a
    :class:`~dasuite.engine.trainer.Trainer` (default ``Trainer()``), into ``run_dir`` (new or empty); see
    :func:`dasuite.experiment.fit`."""
    from dasuite.experiment import fit as fit_objects

    return fit_objects(method, data, trainer, run_dir=run_dir, seed=seed, init_from=init_from,
                       init_checkpoint=init_checkpoint, logger=logger)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators, as ``dasuite train`` does before building the model."""
    from dasuite.experiment import seed_everything as seed_all

    seed_all(seed)


def train(overrides: list[str] | tuple[str, ...] = (), run_dir: str | Path | None = None,
          trusted_modules: Iterable[str] = ()) -> Run:
    """Train one run as ``dasuite train *overrides`` does (the same key checks, configs and run folder files), into
    ``run_dir`` (default: runs/<date>/<time> under the working directory; it must be new or empty); returns the
    finished :class:`Run`, loaded trusting the modules of the ``_target_``s ``overrides`` name and
    ``trusted_modules`` (:func:`load_run`). A config error raises :class:`~dasuite.errors.ConfigError` (and leaves
    no folder behind); a run that fails raises RuntimeError naming its folder. Reads no ``sys.argv``, sets no
    environment variable, and leaves the process's logging as it found it."""
    from dasuite.commands.train import Command, run_experiment
    from dasuite.config.catalog import check_choices
    from dasuite.config.compose import compose_run, write_job_files
    from dasuite.config.options import parse_trusted_modules
    from dasuite.config.override_keys import check_keys
    from dasuite.engine.admission import named_modules
    from dasuite.engine.run_folder import exclusive
    from dasuite.experiment import new_folder
    from dasuite.folder_admission import remove_created, snapshot

    modules = parse_trusted_modules(trusted_modules)
    args = [str(a) for a in overrides]
    refused = [a for a in args if a.startswith("-") or a.startswith(("resume=", "trust_checkpoint=", "trusted_modules=",
                                                                     "hydra.", "hydra/", "+hydra", "~hydra"))]
    if refused:
        raise ConfigError(f"train() trains one new run from config overrides; {refused[0]!r} is not one (sweeps, "
                          "resume= and Hydra's own settings stay with the dasuite train command; give the folder as "
                          "run_dir=).")
    check_choices(args)
    check_keys(args)
    folder = new_folder(run_dir)
    before = snapshot(folder)
    composed = compose_run(args, folder)
    command = Command(prepared=(".hydra", "train.log"))
    with exclusive(folder), _job_log(folder / "train.log"):
        write_job_files(folder, composed)
        summary = run_experiment(composed.config, folder, composed.choices, args, command=command)
    if str(folder) in command.unstarted:
        remove_created(folder, before)
    if command.config_errors:
        raise ConfigError(command.error or f"dasuite.train({args!r}) did not start a run.")
    if summary.get("status") != "completed":
        kind = ConfigError if summary.get("error_type") == "ConfigError" else RuntimeError
        raise kind(f"the run in {folder} {summary.get('status')}: {summary.get('error')}")
    return load_run(folder, trusted_modules=modules + named_modules(args))


@contextmanager
def _job_log(path: Path):
    """The ``dasuite`` logger's records at INFO into ``path`` (a run's train.log) while the run trains, as
    Hydra's job logging does for the command; the logger's level and handlers are put back afterwards."""
    import logging

    from dasuite.safe_files import open_append

    logger = logging.getLogger("dasuite")
    with open_append(path, within=path.parent) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        level = logger.level
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)


def load_run(folder: str | Path, checkpoint: str = "last", device: str = "cpu", trust: bool = False,
             trusted_modules: Iterable[str] = ()) -> Run:
    """The run in ``folder`` with the model of ``checkpoints/<checkpoint>.pt`` (last, or best: the
    label-free pick); ``trust``: as ``trust_checkpoint=true`` (files from a trusted source only);
    ``trusted_modules``: modules of yours whose classes the run's config may name (a callback, backbone or
    method), e.g. ``["mypkg"]``; nothing else the folder names is imported."""
    from dasuite.config.options import parse_trusted_modules
    from dasuite.engine.trainer import resolve_device
    from dasuite.assembly.trained import load_trained

    folder, modules = Path(folder).expanduser(), parse_trusted_modules(trusted_modules)
    model = load_trained(folder, checkpoint, resolve_device(device, key="device"), trust=trust,
                         trusted_modules=modules)
    summary_file = folder / "summary.json"
    summary = json.loads(read_text(summary_file)) if is_present(summary_file) else {}
    return Run(folder, summary, model, trust, modules)


def evaluate(run: Run | str | Path, dataset: str | None = None, checkpoint: str = "last", device: str = "auto",
             trusted_modules: Iterable[str] = (), **settings) -> dict:
    """``dasuite eval``: accuracy, per-class accuracy and confusion matrix of the run's model on its own
    target test set, or on pair ``dataset``'s (``settings``: that pair's keys, e.g. ``channels=1``);
    also written to the run's ``eval/`` folder. ``trusted_modules``: as :func:`load_run`'s (a :class:`Run`
    is read again with the trust it was loaded with, and these modules besides)."""
    from dasuite.commands.eval import evaluate_run
    from dasuite.config.options import parse_trusted_modules

    modules, trust = parse_trusted_modules(trusted_modules), False
    if isinstance(run, Run):
        modules, trust = run.trusted_modules + modules, run.trust
    folder = run.folder if isinstance(run, Run) else Path(run)
    _, result = evaluate_run(folder, dataset=dataset, checkpoint=checkpoint, device=device,
                             settings=[f"dataset.{key}={value}" for key, value in settings.items()],
                             trust_checkpoint=trust, trusted_modules=modules)
    return result
