"""The dasuite command as a user runs it (toy data, a few epochs): every run and sweep job writes a valid run
folder; a bad config exits 2 and leaves no run folder, a run that failed after starting exits 1 and keeps its
folder; help, list, Hydra's shell completion through the ``dasuite`` command, and debug=default."""

import sys

import pytest
import torch

from dasuite.cli import main
from dasuite.commands.train import run_train
from dasuite.config.catalog import choices
from tests.conftest import FAST, assert_valid_run_folder, read_summary, run_cli

SHORT = ["trainer.epochs=2", "trainer.progress=false"]
#: a one-epoch run on blobs, for the tests that call ``run_train`` in-process
ONE_EPOCH = [*FAST, "trainer.epochs=1", "dataset=blobs", "backbone=linear"]


@pytest.fixture
def argv(monkeypatch):
    """run_train sets sys.argv for Hydra: restored after the test."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))


@pytest.mark.parametrize("method", ["source_only", "dann", "mmd", "finetune"])
def test_each_method_trains_and_writes_a_valid_run_folder(method, tmp_path):
    extra = ["method.target_epochs=2"] if method == "finetune" else []
    result = run_cli("train", f"method={method}", *SHORT, *extra, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = assert_valid_run_folder(tmp_path / "run")
    assert summary["method"] == method and summary["dataset"] == "moons_adapt" and summary["backbone"] == "mlp"
    assert f"Run folder: {tmp_path / 'run'}" in result.stdout
    assert f"target accuracy {100 * summary['target_acc']:.2f}%" in result.stdout
    if method == "finetune":
        assert summary["epochs"] == 4 and summary["target_labels_per_class"] == 5


def test_default_run_lands_under_runs_with_a_progress_bar(tmp_path):
    result = run_cli("train", "trainer.epochs=2", "dataset=blobs", "backbone=linear", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "runs").glob("*/*")
    assert_valid_run_folder(run_dir)
    assert "step/s" in result.stderr or "it/s" in result.stderr  # tqdm's bar


def test_multirun_sweep_writes_one_run_folder_per_job(tmp_path):
    result = run_cli("train", "-m", "method=dann", "method.trade_off=0.1,0.3,1.0", "seed=0,1", *SHORT, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    jobs = sorted((tmp_path / "multirun").glob("*/*/*/summary.json"))
    assert len(jobs) == 6
    seen = set()
    for summary_file in jobs:
        summary = assert_valid_run_folder(summary_file.parent)
        seen.add((summary["trade_off"], summary["seed"]))
    assert seen == {(t, s) for t in (0.1, 0.3, 1.0) for s in (0, 1)}


def test_unknown_method_names_the_value_and_the_choices(tmp_path):
    result = run_cli("train", "method=danm", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown method 'danm'" in result.stderr
    assert ", ".join(choices("method")) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("method.trade_off=-1", "method.trade_off=-1.0 must be >= 0"),
    ("trainer.epochs=0", "trainer.epochs=0 must be an integer >= 1"),
    ("trainer.batch_size=0", "trainer.batch_size=0 must be an integer >= 1"),
    ("dataset.target_labels_per_class=500", "dataset.target_labels_per_class=500 is more than the target"),
])
def test_bad_values_fail_before_training_with_one_clear_line_and_no_run_folder(override, message, tmp_path):
    result = run_cli("train", override, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2  # a bad config, not a failed run
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "run").exists()


def test_finetune_without_target_labels_says_how_to_get_them(tmp_path):
    result = run_cli("train", "method=finetune", "dataset.target_labels_per_class=0",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert result.returncode == 2 and "dataset.target_labels_per_class=k" in result.stderr


def test_help_and_list(tmp_path):
    top = run_cli("--help", cwd=tmp_path)
    assert top.returncode == 0 and "train" in top.stdout and "list" in top.stdout
    train_help = run_cli("train", "--help", cwd=tmp_path)
    assert train_help.returncode == 0
    assert "method: " + ", ".join(choices("method")) in train_help.stdout
    assert "trade_off" in train_help.stdout
    listing = run_cli("list", cwd=tmp_path)
    assert listing.returncode == 0
    for name in ("moons", "blobs", "mlp", "linear", "source_only", "dann", "mmd", "finetune"):
        assert name in listing.stdout
    bad = run_cli("trian", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown command 'trian'" in bad.stderr


@pytest.mark.parametrize(("override", "says"), [
    ("trainer.lr=abc", "trainer.lr='abc' is not a valid number"),
    ("trainer.optimizer=rmsprop", "trainer.optimizer='rmsprop' is not one of sgd, adam, adamw"),
    ("dataset=arrays dataset.source=missing.npz dataset.target=missing.npz", "missing.npz"),
    pytest.param("trainer.device=cuda", "no CUDA device is visible here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")),
])
def test_a_config_error_leaves_no_run_folder_and_exits_2(override, says, tmp_cwd, argv, capsys):
    code = run_train([*ONE_EPOCH, *override.split()])
    err = capsys.readouterr().err
    assert code == 2 and says in err, err
    assert [line for line in err.splitlines() if line.strip()][0].startswith("dasuite train: error: ")
    assert list(tmp_cwd.iterdir()) == []  # no runs/<date>/<time>, no runs/ at all


def test_a_named_folder_that_existed_is_kept_and_a_sweep_of_bad_configs_leaves_nothing(tmp_cwd, argv, capsys):
    (tmp_cwd / "mine").mkdir()
    assert run_train([*ONE_EPOCH, "trainer.lr=abc", "hydra.run.dir=mine"]) == 2
    assert list((tmp_cwd / "mine").iterdir()) == []  # emptied of Hydra's files, not removed
    assert run_train(["-m", *ONE_EPOCH, "trainer.lr=abc,xyz"]) == 2
    assert "2 job(s) did not start for a config error" in capsys.readouterr().err
    assert not (tmp_cwd / "multirun").exists()


def test_a_run_that_failed_after_starting_keeps_its_folder_and_exits_1(tmp_cwd, argv):
    code = run_train([*ONE_EPOCH, "trainer.epochs=2", "method=source_only",
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
