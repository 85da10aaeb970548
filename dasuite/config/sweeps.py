"""Optuna sweeps (``hydra/sweeper=dasuite_optuna`` or ``optuna``): where the study lives, and a search space.

The study is a SQLite file in the sweep folder, ``<sweep dir>/optuna.db``
(``configs/hydra/sweeper/dasuite_optuna.yaml`` names it through the ``dasuite.study`` resolver, which
makes the folder first: Optuna opens its storage before any job writes there). A later sweep continues
the study with ``hydra.sweeper.storage=sqlite:///<that sweep dir>/optuna.db``: the sampler sees the
earlier trials, and the best result counts them, while the new jobs get folders of their own. Where
Optuna cannot write SQLite (optuna 2.x, which hydra-optuna-sweeper requires, with SQLAlchemy >= 2),
the study stays in memory and a warning says why.

Plain ``hydra/sweeper=optuna`` has no search space of its own; with none on the command line it would
run its trials on one and the same config, so it stops before starting, saying how to give one.
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
            "optuna 2.x needs SQLAlchemy < 2)", folder / STUDY_FILE, getattr(optuna, "__version__", "?"),
            type(error).__name__, str(error).splitlines()[0][:200] if str(error) else "")
        return None
    return url


def register_resolver() -> None:
    if not OmegaConf.has_resolver("dasuite.study"):
        OmegaConf.register_new_resolver("dasuite.study", study_storage)


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
