"""Suggestions as a user expects them: case does not matter (method=DANN), and a setting typed at the
top level (optimizer=adam) points to where it lives (trainer.optimizer)."""

import sys

import pytest

from dasuite.commands.train import run_train
from dasuite.config.suggestions import closest
from tests.conftest import train_in_process


@pytest.fixture
def argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))


def test_closest_prefers_the_same_name_in_another_case():
    assert closest("DANN", ["dann", "mmd"]) == "dann" and closest("danm", ["dann", "mmd"]) == "dann"
    assert closest("Lr", ["lr", "lr_beta"]) == "lr" and closest("zzz", ["dann"]) is None


@pytest.mark.parametrize(("override", "says"), [
    ("method=DANN", "unknown method 'DANN' in 'method=DANN'. Did you mean method=dann?"),
    ("dataset=Moons", "Did you mean dataset=moons?"),
    ("optimizer=adam", "unknown key 'optimizer': the top-level config has no 'optimizer'. Did you mean "
                       "trainer.optimizer?"),
    ("trade_off=0.3", "Did you mean method.trade_off?"),
    ("trainer.LR=0.1", "the trainer settings have no 'LR'. Did you mean trainer.lr?"),
    ("Seed=1", "the top-level config has no 'Seed'. Did you mean seed?"),
])
def test_a_name_in_the_wrong_case_or_place_gets_the_right_one(override, says, argv, tmp_path, capsys):
    assert run_train([override, f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


def test_an_added_key_in_the_wrong_case_is_named_by_the_structured_config(tmp_path):
    summary = train_in_process(tmp_path, "+trainer.Epochs=3")
    assert "trainer.Epochs is not a trainer setting. Did you mean trainer.epochs?" in summary["error"]

