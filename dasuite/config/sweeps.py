"""Optuna sweeps (``hydra/sweeper=dasuite_optuna`` or ``optuna``): where the study lives, resuming it, a search space.

``hydra/sweeper=dasuite_optuna`` resumes: the same sweep command run again into the same sweep folder
tells the study the trials its finished jobs ran and runs only the rest of ``n_trials``, in new job
folders (:mod:`dasuite.config.optuna_resume`; the ``dasuite.optuna_sweeper`` resolver below registers
that sweeper with Hydra). This needs nothing but the job folders (``.hydra/overrides.yaml`` and
summary.json), so it works whatever Optuna can store.

The study is also kept as a SQLite file in the sweep folder, ``<sweep dir>/optuna.db``, where Optuna can
write one (``configs/hydra/sweeper/dasuite_optuna.yaml`` names it through the ``dasuite.study`` resolver, which
only names the file: resolvers, which a config file can call, change nothing). A later sweep in another folder
continues that study with ``hydra.sweeper.storage=sqlite:///<that sweep dir>/optuna.db``. Optuna cannot write
SQLite with optuna 2.x (which hydra-optuna-sweeper requires) and SQLAlchemy >= 2 (:func:`sqlite_problem`): there
a sweep folder's new study stays in memory, a warning says why, and only the folder-based resume is available;
a study file that is already there is never opened nor removed: the sweep stops with a paragraph naming it and
the version conflict (:func:`sqlite_storage`).

Plain ``hydra/sweeper=optuna`` (the plugin as it is: it does not resume) has no search space of its own;
with none on the command line it would run its trials on one and the same config, so it stops before
starting, saying how to give one.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from dasuite.errors import ConfigError, Refused

STUDY_FILE = "optuna.db"


def study_storage(sweep_dir: str) -> str:
    """``sqlite:///<sweep_dir>/optuna.db`` (absolute): the ``dasuite.study`` resolver, which reads and writes
    nothing."""
    return f"sqlite:///{os.path.join(os.path.abspath(os.path.expanduser(sweep_dir)), STUDY_FILE)}"


def sqlite_problem() -> str | None:
    """Why this Optuna cannot keep a study in SQLite (None: it can), found on a scratch file in a temporary
    folder of its own."""
    import tempfile

    import optuna

    with tempfile.TemporaryDirectory(prefix="dasuite-optuna-") as scratch:
        try:
            optuna.storages.RDBStorage(f"sqlite:///{os.path.join(scratch, 'probe.db')}")
        except Exception as error:  # noqa: BLE001 - version clashes surface as many kinds of error
            try:
                import sqlalchemy

                versions = f"optuna {optuna.__version__} with SQLAlchemy {sqlalchemy.__version__}"
            except ImportError:
                versions = f"optuna {optuna.__version__}"
            detail = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}" if str(error) else \
                type(error).__name__
            return f"{versions} cannot open a SQLite storage ({detail}; optuna 2.x needs SQLAlchemy < 2)"
    return None


def sqlite_storage(url: str, sweep_dir: str) -> str | None:
    """The storage a sweep opens for ``url`` (``hydra.sweeper.storage``): ``url`` itself unless it names a SQLite
    file this Optuna cannot open. Then the sweep folder's own study (:func:`study_storage`) that is not there yet
    is kept in memory (None; a warning says why), and any other one stops the sweep (:class:`Refused`) naming the
    file and the version conflict; the file is left as it is."""
    import logging

    if not url.startswith("sqlite:///"):
        return url
    problem = sqlite_problem()
    if problem is None:
        return url
    file = Path(url[len("sqlite:///"):])
    if url == study_storage(sweep_dir) and not file.exists():
        logging.getLogger("dasuite").warning(
            "the Optuna study is kept in memory, not in %s: %s. Running this sweep again into this folder still "
            "resumes it, from its finished jobs", file, problem)
        return None
    state = "holds a study" if file.exists() else "was named for the study (hydra.sweeper.storage)"
    raise Refused(f"cannot open the Optuna study {file}, which {state}: {problem}. The file is left as it is. "
                  "Install SQLAlchemy < 2 to use it, or give hydra.sweeper.storage=null (the study is then kept in "
                  "memory and told the sweep folder's finished jobs), or another hydra.sweep.dir.")


def resumable_optuna_sweeper(*, _node_=None) -> str:
    """Register :class:`~dasuite.config.optuna_resume.ResumableOptunaSweeper` with Hydra and return its name there.

    Hydra instantiates a sweeper only from its plugin registry, by a ``hydra_plugins.*`` name that it imports
    again: the class is registered as ``hydra_plugins.dasuite_optuna.ResumableOptunaSweeper``, with
    ``hydra_plugins.dasuite_optuna`` an alias of :mod:`dasuite.config.optuna_resume` in ``sys.modules``. This is
    the ``dasuite.optuna_sweeper`` resolver, the ``_target_`` of ``hydra/sweeper=dasuite_optuna``, so it runs
    when Hydra looks the sweeper up (and imports optuna only then); anywhere else (a run's saved config) it is a
    ConfigError and registers nothing."""
    import importlib
    import sys

    from hydra.core.plugins import Plugins

    key = _node_._get_full_key(None) if _node_ is not None else "?"
    if key != "hydra.sweeper._target_":
        raise ConfigError(f"{key}: ${{dasuite.optuna_sweeper:}} names the sweeper of hydra/sweeper=dasuite_optuna "
                          "and means nothing elsewhere; the config was edited.")

    module = importlib.import_module("dasuite.config.optuna_resume")
    sweeper = module.ResumableOptunaSweeper
    sys.modules.setdefault(sweeper.__module__, module)
    Plugins.instance().register(sweeper)
    return f"{sweeper.__module__}.{sweeper.__name__}"


def register_resolver() -> None:
    """Register ``dasuite.study`` and ``dasuite.optuna_sweeper``, the resolvers of ``hydra/sweeper=dasuite_optuna``."""
    if not OmegaConf.has_resolver("dasuite.study"):
        OmegaConf.register_new_resolver("dasuite.study", study_storage)
    if not OmegaConf.has_resolver("dasuite.optuna_sweeper"):
        OmegaConf.register_new_resolver("dasuite.optuna_sweeper", resumable_optuna_sweeper)


def check_search_space(args: list[str]) -> None:
    """A ConfigError for ``-m hydra/sweeper=optuna`` without a search space: no ``hydra.sweeper.params.*``
    and no swept override (``a=1,2``, ``a=interval(0,1)``, ``a=choice(x,y)``, ``a=range(1,5)``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not any(a in ("-m", "--multirun") for a in args) or "hydra/sweeper=optuna" not in args:
        return
    if any(a.lstrip("+").startswith("hydra.sweeper.params") for a in args):
        return
    try:
        overrides = OverridesParser.create().parse_overrides([a for a in args if "=" in a and not a.startswith("-")])
    except Exception:  # noqa: BLE001 - a malformed override: Hydra itself reports it
        return
    if not any(o.is_sweep_override() for o in overrides):
        raise ConfigError("hydra/sweeper=optuna has no search space here, so every trial would run the same config. "
                          "Give one, e.g. method.trade_off='tag(log, interval(0.01, 10))' trainer.lr=0.001,0.01,0.1 "
                          "(or hydra.sweeper.params.KEY=...), or use hydra/sweeper=dasuite_optuna, which searches λ "
                          "(method.trade_off) and trainer.lr.")
