"""Optuna sweeps keep their study in the sweep folder (a later sweep continues it); plain
hydra/sweeper=optuna without a search space says so instead of running one config n times."""

import sys

import pytest

from dasuite.commands.train import run_train
from dasuite.config.sweeps import sqlite_problem
from tests.conftest import FAST

optuna = pytest.importorskip("optuna", reason='hydra/sweeper=optuna needs the extra: pip install "dasuite[optuna]"')
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

SWEEP = ["-m", "hydra/sweeper=dasuite_optuna", "hydra.sweeper.n_trials=1", "trainer.select=source_acc", *FAST,
         "trainer.epochs=1", "dataset=blobs", "backbone=linear"]


@pytest.fixture
def argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))


def _trials(storage: str) -> int:
    return len(optuna.load_study(study_name="dasuite", storage=storage).trials)


def test_the_study_lives_in_the_sweep_folder_and_a_later_sweep_continues_it(tmp_cwd, argv):
    if sqlite_problem() is not None:
        pytest.skip("optuna cannot write SQLite with this SQLAlchemy (optuna 2.x needs SQLAlchemy < 2)")
    assert run_train([*SWEEP, "hydra.sweep.dir=first"]) == 0
    storage = f"sqlite:///{tmp_cwd / 'first' / 'optuna.db'}"
    assert _trials(storage) == 1 and (tmp_cwd / "first" / "0" / "summary.json").is_file()
    assert run_train([*SWEEP, "hydra.sweep.dir=second", f"hydra.sweeper.storage={storage}"]) == 0
    assert _trials(storage) == 2  # the earlier trial is part of the study the second sweep ran
    assert (tmp_cwd / "second" / "0" / "summary.json").is_file()  # while its job has a folder of its own


def test_where_optuna_cannot_write_sqlite_the_sweep_runs_in_memory_and_says_why(tmp_cwd, argv, monkeypatch,
                                                                                  capsys):
    class Broken(optuna.storages.RDBStorage):
        def __init__(self, url):
            raise AssertionError("no alembic version")  # what optuna 2.x does on SQLAlchemy 2

    monkeypatch.setattr(optuna.storages, "RDBStorage", Broken)
    assert run_train([*SWEEP, "hydra.sweep.dir=sweep"]) == 0
    printed = "".join(capsys.readouterr())  # Hydra's sweep logging prints it
    assert "the Optuna study is kept in memory" in printed and "optuna 2.x needs SQLAlchemy < 2" in printed
    assert (tmp_cwd / "sweep" / "0" / "summary.json").is_file() and not (tmp_cwd / "sweep" / "optuna.db").exists()


def test_plain_optuna_without_a_search_space_stops_before_starting(tmp_cwd, argv, capsys):
    assert run_train(["-m", "hydra/sweeper=optuna", *FAST]) == 2
    err = capsys.readouterr().err
    assert "hydra/sweeper=optuna has no search space here" in err and "hydra/sweeper=dasuite_optuna" in err
    assert list(tmp_cwd.iterdir()) == []
