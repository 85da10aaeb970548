"""Evaluation metrics (dasuite/metrics/): hand-computed values, a run that records mean per-class accuracy
(metrics.jsonl, summary.json, eval, report), and a bad ``trainer.metrics`` refused before any run folder."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from dasuite.commands.report import main as report_main
from dasuite.commands.train import run_train
from dasuite.errors import ConfigError
from dasuite.metrics import METRICS, accuracy, mean_class_accuracy, metric, per_class_accuracy
from tests.conftest import read_summary, train_in_process

BOTH = "trainer.metrics=[accuracy,mean_class_accuracy]"


def t(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def test_accuracy_and_mean_class_accuracy_by_hand():
    predicted, labels = t(0, 0, 1, 1), t(0, 0, 0, 1)  # class 0: 2 of 3 right, class 1: 1 of 1
    assert accuracy(predicted, labels) == 3 / 4
    assert per_class_accuracy(predicted, labels) == [2 / 3, 1.0]
    assert mean_class_accuracy(predicted, labels) == pytest.approx((2 / 3 + 1) / 2, abs=1e-15)
    assert mean_class_accuracy(t(1, 1, 1, 1), labels) == 0.5  # always "1": 0 for class 0, 1 for class 1


def test_a_class_absent_from_the_labels_has_no_accuracy_and_no_term_in_the_mean():
    # class 1 never occurs in the labels; predicting it is an error of the sample's own class (0)
    predicted, labels = t(0, 1, 2, 0), t(0, 0, 2, 2)
    assert per_class_accuracy(predicted, labels, num_classes=4) == [0.5, None, 0.5, None]
    assert mean_class_accuracy(predicted, labels) == 0.5  # over classes 0 and 2, not (0.5 + 0 + 0.5) / 3
    assert accuracy(predicted, labels) == 0.5


def test_empty_sets_are_nan():
    assert math.isnan(accuracy(t(), t())) and math.isnan(mean_class_accuracy(t(), t()))
    assert per_class_accuracy(t(), t(), num_classes=2) == [None, None]


def test_the_registry_keys_are_distinct_and_import_no_torch():
    assert len({m.key for m in METRICS.values()}) == len(METRICS) and METRICS["accuracy"].key == "acc"
    probe = "import sys, dasuite.metrics; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["[]"], result.stderr
    with pytest.raises(ConfigError, match="trainer.metrics names 'f1', which is not a metric; valid names: "
                                          "accuracy, mean_class_accuracy."):
        metric("f1")


@pytest.mark.parametrize(("value", "says"), [
    ("[accuracy,mean_class_acc]", "trainer.metrics names 'mean_class_acc', which is not a metric; valid names: "
                                  "accuracy, mean_class_accuracy."),
    ("[mean_class_accuracy]", "trainer.metrics=['mean_class_accuracy'] leaves out accuracy"),
    ("accuracy", "trainer.metrics='accuracy' is not a valid list of strings."),
])
def test_a_bad_metric_list_exits_2_before_a_run_folder_exists(value, says, tmp_path, capsys):
    assert run_train([f"trainer.metrics={value}", f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dasuite train: error: ") and says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Three epochs of DANN on the three blobs, recording both metrics (EnsV keeps best.pt)."""
    folder = tmp_path_factory.mktemp("metrics") / "run"
    summary = train_in_process(folder, "dataset=blobs", "trainer.epochs=3", BOTH)
    assert summary["status"] == "completed"
    return folder


def _target_test_predictions(folder, checkpoint: str) -> tuple[int, np.ndarray, np.ndarray]:
    """The checkpoint's epoch and its predicted and true classes on the run's target test set."""
    from dasuite.assembly.pair import build_pair
    from dasuite.assembly.trained import load_trained

    model = load_trained(folder, checkpoint)
    test = build_pair(model.config.dataset).target_test
    with torch.inference_mode():
        predicted = model.method.predict(model.prepare(test.x)).argmax(1)
    return model.epoch, predicted.numpy(), test.y.numpy()


def _mean_class(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean([(predicted[labels == c] == c).mean() for c in np.unique(labels)]))


def test_a_run_records_mean_class_accuracy_in_metrics_and_summary(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    summary = read_summary(run)
    assert all({"target/mean_class_acc", "source/mean_class_acc", "target/acc"} <= set(r) for r in records)
    assert (summary["target_mean_class_acc"], summary["source_mean_class_acc"]) == \
        (records[-1]["target/mean_class_acc"], records[-1]["source/mean_class_acc"])
    best = next(r for r in records if r["epoch"] == summary["best_epoch"])
    assert (summary["best_target_mean_class_acc"], summary["best_target_acc"]) == \
        (best["target/mean_class_acc"], best["target/acc"])
    for checkpoint, field in (("last", "target_mean_class_acc"), ("best", "best_target_mean_class_acc")):
        epoch, predicted, labels = _target_test_predictions(run, checkpoint)  # recomputed from the weights
        assert summary[field] == pytest.approx(_mean_class(predicted, labels), abs=1e-12)
        assert summary[field.replace("mean_class_acc", "acc")] == (predicted == labels).mean()
    assert epoch == summary["best_epoch"]
    assert summary["target_mean_class_acc"] != summary["target_acc"]  # the blobs' test classes are unbalanced


def test_a_run_without_the_metric_records_accuracy_alone(tmp_path):
    summary = train_in_process(tmp_path / "run", "trainer.epochs=1")
    assert not any("mean_class" in key for key in summary)
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert [k for k in record if k.startswith(("source/", "target/"))] == \
        ["source/acc", "source/loss", "target/acc", "target/loss"]


def test_eval_reports_the_same_mean_class_accuracy(run, capsys):
    from dasuite.commands.eval import main as eval_main

    assert eval_main([f"run_dir={run}"]) == 0
    out = json.loads((run / "eval" / "blobs_last.json").read_text())
    summary = read_summary(run)
    assert (out["accuracy"], out["mean_class_accuracy"]) == (summary["target_acc"], summary["target_mean_class_acc"])
    assert out["mean_class_accuracy"] == pytest.approx(np.mean(list(out["per_class_accuracy"].values())), abs=1e-12)
    assert f"mean per-class accuracy {100 * summary['target_mean_class_acc']:.2f}%" in capsys.readouterr().out


def _csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_report_shows_the_metric_and_measures_picks_by_it(run, tmp_path, capsys):
    summary = read_summary(run)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert report_main([str(run), "--out", str(tmp_path / "plain")]) == 0
    md = (tmp_path / "plain" / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| dann |"))
    assert row.endswith(f"| {100 * summary['target_mean_class_acc']:.1f} ± 0.0 "
                        f"| {100 * summary['best_target_mean_class_acc']:.1f} ± 0.0 |")
    assert "| target mean class acc % (last epoch) | best.pt target mean class acc % |" in md
    assert float(_csv(tmp_path / "plain" / "report.csv")[0]["target_mean_class_acc_mean"]) == \
        pytest.approx(summary["target_mean_class_acc"], rel=1e-5)

    assert report_main([str(run), "--metric", "mean_class_accuracy", "--out", str(tmp_path / "mca")]) == 0
    md = (tmp_path / "mca" / "report.md").read_text()
    oracle = max(r["target/mean_class_acc"] for r in records)  # the oracle now picks by mean per-class accuracy
    assert f"| oracle (uses target labels) | method=dann | " in md
    oracle_row = next(line for line in md.splitlines() if line.startswith("| oracle"))
    assert f"| {100 * oracle:.1f} ± 0.0 |" in oracle_row
    assert "| target mean class acc % | regret (points) |" in md
    picks = {(r["validator"], r["selection"]): r for r in _csv(tmp_path / "mca" / "report_selection.csv")}
    assert float(picks["oracle (uses target labels)", "any_epoch"]["target_mean_class_acc_mean"]) == \
        pytest.approx(oracle, rel=1e-5)

    assert report_main([str(run), "--table", "tasks", "--oracle", "--metric", "mean_class_accuracy",
                        "--out", str(tmp_path / "tasks")]) == 0
    tasks = (tmp_path / "tasks" / "report_tasks.md").read_text()
    assert tasks.startswith("# Target mean class accuracy (%) per task: oracle (uses target labels)\n")
    assert f"| {100 * oracle:.1f} |" in tasks.replace("**", "")


def test_report_metric_errors(run, tmp_path, capsys):
    assert report_main([str(run), "--metric", "mca"]) == 2
    assert "--metric names 'mca', which is not a metric; valid names: accuracy, mean_class_accuracy." in \
        capsys.readouterr().err
    plain = tmp_path / "plain"
    assert train_in_process(plain, "trainer.epochs=1")["status"] == "completed"
    assert report_main([str(plain), "--metric", "mean_class_accuracy"]) == 2
    err = capsys.readouterr().err
    assert "--metric mean_class_accuracy: no run here records it (target/mean_class_acc in metrics.jsonl)" in err
    assert err.rstrip().endswith("These runs record: accuracy.") and not (plain / "report.md").exists()


def test_a_run_from_before_trainer_metrics_resumes_and_may_add_a_metric(tmp_path):
    from dasuite.engine.checkpoint import read_checkpoint

    folder = tmp_path / "run"
    assert train_in_process(folder, "trainer.epochs=1")["status"] == "completed"
    last = folder / "checkpoints" / "last.pt"
    checkpoint = read_checkpoint(last, "read")
    del checkpoint["config"]["trainer"]["metrics"]  # as written before the key existed
    torch.save(checkpoint, last)
    summary = train_in_process(folder, "trainer.epochs=2", BOTH, resume=True)
    assert summary["status"] == "completed" and summary["epochs"] == 2
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert ["target/mean_class_acc" in r for r in records] == [False, True]
    assert summary["target_mean_class_acc"] == records[-1]["target/mean_class_acc"]
