"""The dasuite command as a user runs it (subprocesses, toy data, a few epochs)."""

import pytest

from dasuite.config.catalog import choices
from tests.conftest import assert_valid_run_folder, run_cli

SHORT = ["trainer.epochs=2", "trainer.progress=false"]


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
