"""``hydra/sweeper=dasuite_optuna``: hydra-optuna-sweeper's sweeper, which resumes its study from the sweep folder.

Run the same sweep command again into the same ``hydra.sweep.dir`` and the search goes on: before asking
for a trial, the study is told the trials the folder's jobs finished (:func:`finished_trials`), so the
sampler conditions on them and ``n_trials`` counts them; only the rest run, in job folders numbered after
the highest one there (:func:`next_job_number`), never over an earlier job's. Where the study itself is
stored (a SQLite ``hydra.sweeper.storage`` that works) and already holds trials, it is used as it is.

Hydra instantiates sweepers only from its plugin registry, under a ``hydra_plugins.`` name: the
``dasuite.optuna_sweeper`` resolver, which ``configs/hydra/sweeper/dasuite_optuna.yaml`` gives as its
``_target_``, registers :class:`ResumableOptunaSweeper` there under that name
(:func:`dasuite.config.sweeps.resumable_optuna_sweeper`). Importing this module imports the plugin and optuna.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl, create_params_from_overrides
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from omegaconf import OmegaConf

from dasuite.config.sweeps import sqlite_storage
from dasuite.safe_files import read_text

log = logging.getLogger("dasuite")

#: Overrides that do not change a run's numbers: a finished job still counts when only these differ.
DISPLAY_KEYS = ("trainer.progress", "trainer.plots")


class ResumableOptunaSweeper(OptunaSweeper):
    """hydra-optuna-sweeper's ``OptunaSweeper`` (same settings), on :class:`ResumableOptunaSweeperImpl`."""

    __module__ = "hydra_plugins.dasuite_optuna"  # the registry's name for it (Hydra wants hydra_plugins.*)

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: D107 - the plugin's own arguments
        self.sweeper = ResumableOptunaSweeperImpl(*args, **kwargs)


class ResumableOptunaSweeperImpl(OptunaSweeperImpl):
    def sweep(self, arguments: list[str]) -> None:
        folder = Path(self.sweep_dir)
        directions = self._get_directions()
        self._process_searchspace_config()
        distributions, fixed = create_params_from_overrides([*self._parse_sweeper_params_config(), *arguments])
        distributions = {**(self.search_space_distributions or {}), **distributions}
        for name in fixed:  # as the plugin does: a key given a value is not searched
            distributions.pop(name, None)
        found = finished_trials(folder, distributions, fixed) if len(directions) == 1 else []
        folder.mkdir(parents=True, exist_ok=True)  # where Optuna makes the sweep's SQLite study
        storage = self.storage if not isinstance(self.storage, str) else sqlite_storage(self.storage, self.sweep_dir)
        storage = _InMemory(folder) if storage is None else storage
        study = optuna.create_study(study_name=self.study_name, storage=storage, directions=directions,
                                    load_if_exists=True)
        earlier = len(study.trials)
        if not earlier and found:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.add_trials(found)
            earlier = len(found)
        # the plugin creates (loads) the study again: the same storage object, the same name
        self.storage, self.study_name = storage, study.study_name
        self.job_idx = next_job_number(folder)
        if self.job_idx or earlier:
            self.sampler = self._reseeded_sampler(self.job_idx + earlier)
        self.n_trials = max(self.n_trials - len(found), 0)
        if earlier:
            log.info("Optuna: the study continues from %d earlier trial(s) (%d finished job(s) in %s count towards "
                     "n_trials); %d more to run, from job %d", earlier, len(found), folder, self.n_trials,
                     self.job_idx)
        super().sweep(arguments)
        results = folder / "optimization_results.yaml"
        if results.is_file():
            saved = OmegaConf.load(results)
            saved.trials = len(optuna.load_study(study_name=self.study_name, storage=self.storage).trials)
            saved.earlier_trials = earlier
            OmegaConf.save(saved, results)

    def _reseeded_sampler(self, offset: int) -> Any:
        """A seeded sampler again, with ``seed + offset`` (``offset``: job folders there + trials already in the
        study): with its first seed it would draw the earlier jobs' parameters again, as TPE samples at random
        for its first trials. Grid and unseeded samplers are left as they are."""
        from hydra.utils import instantiate

        node = OmegaConf.select(self.config, "hydra.sweeper.sampler")
        if node is None or node.get("seed") is None or node.get("_partial_", False):
            return self.sampler
        conf = OmegaConf.to_container(node, resolve=True)
        conf["seed"] = int(conf["seed"]) + offset
        return instantiate(conf)


class _InMemory(optuna.storages.InMemoryStorage):
    """An in-memory study storage that says so in the plugin's log (``Storage: ...``)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def __repr__(self) -> str:
        return f"in memory (resumed from the job folders of {self.folder})"


def finished_trials(folder: Path, distributions: dict, fixed: dict) -> list:
    """The finished trials of the job folders in ``folder`` (``<job>/.hydra/overrides.yaml``), as
    ``optuna.trial.FrozenTrial`` objects to tell the study: a job whose summary.json says "completed" with a
    finite ``best_value`` (the value the job returned), whose overrides give every searched key a value
    inside ``distributions`` and are otherwise those of this sweep (``fixed``; :data:`DISPLAY_KEYS` aside).
    A failed, interrupted or unfinished job, or one from another search, is left out (and logged)."""
    trials, other = [], []
    expected = sorted(f"{k}={v}" for k, v in fixed.items() if k not in DISPLAY_KEYS)
    for job in sorted((p.parent.parent for p in folder.glob("*/.hydra/overrides.yaml")), key=_job_order):
        try:
            summary = json.loads(read_text(job / "summary.json"))  # a pipe there is refused (ValueError), not read
            overrides = yaml.safe_load(read_text(job / ".hydra" / "overrides.yaml")) or []
        except (OSError, ValueError, yaml.YAMLError):
            continue  # no summary yet: the job never finished
        if not isinstance(summary, dict) or not isinstance(overrides, list) or summary.get("status") != "completed":
            continue
        value = summary.get("best_value")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            continue  # the job returned NaN: the study recorded a failed trial
        raw = {o.partition("=")[0]: o.partition("=")[2] for o in overrides if isinstance(o, str)}
        rest = sorted(o for o in overrides if isinstance(o, str) and o.partition("=")[0] not in distributions
                      and o.partition("=")[0] not in DISPLAY_KEYS)
        try:
            if rest != expected or set(distributions) - set(raw):
                raise ValueError("another search")
            params = {k: _value(raw[k], d) for k, d in distributions.items()}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                trials.append(optuna.trial.create_trial(params=params, distributions=dict(distributions),
                                                        value=float(value), user_attrs=dict(fixed)))
        except ValueError:  # the job's overrides are not this sweep's (a value outside its space, another key)
            other.append(job.name)
    if other:
        log.warning("Optuna: %d finished job(s) in %s ran another search (other overrides or values outside this "
                    "search space), so the study is not told them: %s", len(other), folder, ", ".join(other))
    return trials


def _value(raw: str, distribution) -> Any:
    """A parameter's value as the sweeper wrote it (``f"{key}={value}"``), back in the distribution's type
    (``create_trial`` checks it lies inside the distribution)."""
    from optuna.distributions import CategoricalDistribution, IntLogUniformDistribution, IntUniformDistribution

    if isinstance(distribution, CategoricalDistribution):
        for choice in distribution.choices:
            if str(choice) == raw:
                return choice
        raise ValueError(f"{raw!r} is none of the choices")
    if isinstance(distribution, (IntUniformDistribution, IntLogUniformDistribution)):
        return int(raw)
    return float(raw)


def next_job_number(folder: Path) -> int:
    """The number after the highest numbered job folder in ``folder`` (0 when there is none)."""
    numbers = [int(p.name) for p in folder.glob("*") if p.name.isdigit() and p.is_dir()] if folder.is_dir() else []
    return max(numbers, default=-1) + 1


def _job_order(job: Path) -> tuple:
    return (0, int(job.name), "") if job.name.isdigit() else (1, 0, job.name)
