"""Optuna sweeps (``hydra/sweeper=dasuite_optuna`` or ``optuna``): where the study lives, resuming it, a search space.

``hydra/sweeper=dasuite_optuna`` resumes: the same sweep command run again into the same sweep folder
tells the study the trials its finished jobs ran and runs only the rest of ``n_trials``, in new job
folders (:mod:`dasuite.config.optuna_resume`; the ``dasuite.optuna_sweeper`` resolver below registers
that sweeper with Hydra). This needs nothing but the job folders (``.hydra/overrides.yaml`` and
summary.json), so it works whatever Optuna can store.

The study is also kept as a SQLite file in the sweep folder, ``<sweep dir>/optuna.db``, where Optuna can
write one (``configs/hydra/sweeper/dasuite_optuna.yaml`` names it through the ``dasuite.study`` resolver,
which makes the folder first: Optuna opens its storage before any job writes there). A later sweep in
another folder continues that study with ``hydra.sweeper.storage=sqlite:///<that sweep dir>/optuna.db``.
Optuna cannot write SQLite with optuna 2.x (which hydra-optuna-sweeper requires) and SQLAlchemy >= 2:
there the study stays in memory, a warning says why, and only the folder-based resume is available.

Plain ``hydra/sweeper=optuna`` (the plugin as it is: it does not resume) has no search space of its own;
with none on the command line it would run its trials on one and the same config, so it stops before
starting, saying how to give one.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from dasuite.errors import ConfigError

STUDY_FILE = "optuna.db"


def study_storage(sweep_dir: str) -> str | None:
    """``sqlite:///<sweep_dir>/optuna.db`` (absolute), the folder made if it is not there yet; None (in memory,
    with a warning) where Optuna cannot open a SQLite storage here."""
    import logging

    folder = Path(sweep_dir).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / STUDY_FILE}"
    try:
        import optuna

        optuna.storages.RDBStorage(url)  # creates the tables, as create_study would
    except Exception as error:  # noqa: BLE001 - version clashes surface as many kinds of error
        (folder / STUDY_FILE).unlink(missing_ok=True)
        logging.getLogger("dasuite").warning(
            "the Optuna study is kept in memory, not in %s: optuna %s cannot open a SQLite storage here (%s: %s; "
            "optuna 2.x needs SQLAlchemy < 2). Running this sweep again into this folder still resumes it, from "
            "its finished jobs", folder / STUDY_FILE, getattr(optuna, "__version__", "?"),
            type(error).__name__, str(error).splitlines()[0][:200] if str(error) else "")
        return None
    return url


def resumable_optuna_sweeper() -> str:
    """Register :class:`~dasuite.config.optuna_resume.ResumableOptunaSweeper` with Hydra and return its name there.

    Hydra instantiates a sweeper only from its plugin registry, by a ``hydra_plugins.*`` name that it imports
    again: the class is registered as ``hydra_plugins.dasuite_optuna.ResumableOptunaSweeper``, with
    ``hydra_plugins.dasuite_optuna`` an alias of :mod:`dasuite.config.optuna_resume` in ``sys.modules``. This is
    the ``dasuite.optuna_sweeper`` resolver, the ``_target_`` of ``hydra/sweeper=dasuite_optuna``, so it runs
    when Hydra looks the sweeper up (and imports optuna only then)."""
    import importlib
    import sys

    from hydra.core.plugins import Plugins

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
