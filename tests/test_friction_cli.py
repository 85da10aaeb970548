"""``dasuite train`` as a new user meets it: a bad config leaves no run folder and exits 2 (a failed run
exits 1 and keeps its folder); Hydra's shell completion works through the ``dasuite`` command."""

import sys

import pytest
import torch

from dasuite.cli import main
from dasuite.commands.train import run_train
from tests.conftest import FAST, read_summary

SHORT = [*FAST, "trainer.epochs=1", "dataset=blobs", "backbone=linear"]


@pytest.fixture
def argv(monkeypatch):
    """run_train sets sys.argv for Hydra: restored after the test."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))


@pytest.mark.parametrize(("override", "says"), [
    ("trainer.lr=abc", "trainer.lr='abc' is not a valid number"),
    ("trainer.optimizer=rmsprop", "trainer.optimizer='rmsprop' is not one of sgd, adam, adamw"),
    ("dataset=arrays dataset.source=missing.npz dataset.target=missing.npz", "missing.npz"),
    pytest.param("trainer.device=cuda", "no CUDA device is visible here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")),
])
def test_a_config_error_leaves_no_run_folder_and_exits_2(override, says, tmp_cwd, argv, capsys):
    code = run_train([*SHORT, *override.split()])
    err = capsys.readouterr().err
    assert code == 2 and says in err, err
    assert [line for line in err.splitlines() if line.strip()][0].startswith("dasuite train: error: ")
    assert list(tmp_cwd.iterdir()) == []  # no runs/<date>/<time>, no runs/ at all


def test_a_named_folder_that_existed_is_kept_and_a_sweep_of_bad_configs_leaves_nothing(tmp_cwd, argv, capsys):
    (tmp_cwd / "mine").mkdir()
    assert run_train([*SHORT, "trainer.lr=abc", "hydra.run.dir=mine"]) == 2
    assert list((tmp_cwd / "mine").iterdir()) == []  # emptied of Hydra's files, not removed
    assert run_train(["-m", *SHORT, "trainer.lr=abc,xyz"]) == 2
    assert "2 job(s) did not start for a config error" in capsys.readouterr().err
    assert not (tmp_cwd / "multirun").exists()


def test_a_run_that_failed_after_starting_keeps_its_folder_and_exits_1(tmp_cwd, argv):
    code = run_train([*SHORT, "trainer.epochs=2", "method=source_only",
                      "method._target_=tests.helpers.FailsInSecondEpoch", "hydra.run.dir=run"])
    assert code == 1
    summary = read_summary(tmp_cwd / "run")
    assert summary["status"] == "failed" and "boom in epoch 2" in summary["error"]
    assert (tmp_cwd / "run" / "metrics.jsonl").is_file() and (tmp_cwd / "run" / "train.log").is_file()


def test_shell_completion_installs_for_the_dasuite_command_without_the_key_checker(tmp_cwd, argv, capsys):
    assert run_train(["--shell-completion", "install=bash"]) == 0
    out = capsys.readouterr()
    assert "unknown key" not in out.err
    assert out.out.rstrip().endswith("-F hydra_bash_completion dasuite")  # the script completes `dasuite ...`
    assert list(tmp_cwd.iterdir()) == []


@pytest.mark.parametrize(("line", "expected"), [
    ("dasuite tr", "train eval report predict export list"),
    ("dasuite train method=d", "method=dann"),
    ("dasuite train trainer.ep", "trainer.epochs="),
])
def test_shell_completion_queries_complete_subcommands_groups_and_keys(line, expected, monkeypatch, argv, capsys):
    monkeypatch.setenv("COMP_LINE", line)
    with pytest.raises(SystemExit) as done:  # what the installed script runs: `dasuite -sc query=bash`
        main(["-sc", "query=bash"])
    assert done.value.code == 0 and capsys.readouterr().out.split() == expected.split()
    monkeypatch.setattr(sys, "argv", ["dasuite"])
    if line.startswith("dasuite train "):  # the same query through `dasuite train -sc`
        assert run_train(["-sc", "query=bash"]) == 0 and capsys.readouterr().out.split() == expected.split()


def test_a_completion_query_without_a_line_explains_how_to_install(monkeypatch, argv, capsys):
    monkeypatch.delenv("COMP_LINE", raising=False)
    assert run_train(["--shell-completion", "query=bash"]) == 2
    err = capsys.readouterr().err
    assert "COMP_LINE" in err and 'eval "$(dasuite train --shell-completion install=bash)"' in err
    assert "Traceback" not in err


def test_debug_default_runs_a_few_steps_of_everything_plots_included_apart_from_runs(tmp_cwd, argv):
    assert run_train(["debug=default", "method=cdan"]) == 0
    (run_dir,) = [p.parent for p in (tmp_cwd / "debug_runs").glob("*/*/summary.json")]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["epochs"] == 2 and summary["steps"] == 4
    assert {p.name for p in (run_dir / "plots").glob("*.png")} >= {"curves.png", "tsne.png", "tsne_initial.png"}
    assert (run_dir / "checkpoints" / "best.pt").is_file() and not (tmp_cwd / "runs").exists()
