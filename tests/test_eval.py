"""``dasuite eval``: a trained moons run's checkpoints on its own target test set and on other pairs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from dasuite.commands.eval import main as eval_main
from tests.conftest import read_summary, run_cli, train_in_process
from tests.test_fast_cli import PROBE


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval") / "run"
    assert train_in_process(folder, "trainer.epochs=5")["status"] == "completed"
    return folder


def test_eval_reproduces_the_runs_final_target_accuracy(run):
    result = run_cli("eval", f"run_dir={run}", cwd=run.parent)
    assert result.returncode == 0, result.stderr
    out = json.loads((run / "eval" / "moons_last.json").read_text())
    summary = read_summary(run)
    assert out["accuracy"] == summary["target_acc"]  # exactly: the same set, order and batches
    assert (out["checkpoint"], out["epoch"], out["dataset"], out["split"], out["n"]) == \
        ("last", 5, "moons", "target_test", 1000)
    confusion = out["confusion_matrix"]
    assert sum(map(sum, confusion)) == 1000 and (confusion[0][0] + confusion[1][1]) / 1000 == out["accuracy"]
    assert out["class_names"] == ["upper", "lower"]
    assert out["per_class_accuracy"]["lower"] == confusion[1][1] / sum(confusion[1])
    assert f"accuracy {100 * summary['target_acc']:.2f}%" in result.stdout and "moons_last.json" in result.stdout


def test_eval_best_checkpoint_is_the_label_free_pick(run, tmp_path, capsys):
    assert eval_main([f"run_dir={run}", "checkpoint=best"]) == 0
    out = json.loads((run / "eval" / "moons_best.json").read_text())
    summary = read_summary(run)
    assert (out["epoch"], out["accuracy"]) == (summary["best_epoch"], summary["best_target_acc"])
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("best.pt"))
    assert eval_main([f"run_dir={copy}", "checkpoint=best"]) == 2
    assert "has no checkpoints/best.pt" in capsys.readouterr().err


def test_eval_on_another_setting_of_the_pair(run, capsys):
    import torch

    from dasuite.engine.evaluate import evaluate
    from dasuite.assembly.pair import build_pair
    from dasuite.assembly.trained import load_trained
    from tests.conftest import compose_config

    assert eval_main([f"run_dir={run}", "dataset=moons", "dataset.rotation_deg=70"]) == 0
    out = json.loads((run / "eval" / "moons_rotation_deg=70_last.json").read_text())
    assert out["dataset_config"]["rotation_deg"] == 70
    model = load_trained(run)
    pair = build_pair(compose_config("dataset=moons", "dataset.rotation_deg=70").dataset)
    expected = evaluate(model.method, pair.target_test, torch.device("cpu"), 1024, model.prepare)["acc"]
    assert out["accuracy"] == expected != read_summary(run)["target_acc"]


@pytest.mark.parametrize(("args", "says"), [
    (["dataset=blobs"], "dataset=blobs has 3 classes (0, 1, 2), but the run's model predicts 2 (upper, lower)"),
    (["dataset=blobs", "dataset.dim=3", "dataset.num_classes=2", "dataset.shift=1.5"],
     "dataset=blobs gives inputs of shape 3, but the run's model takes 2"),
    (["dataset=moonz"], "dataset='moonz' is not a dataset pair; valid choices: arrays, blobs"),
    (["dataset=moons", "dataset.rotation=3"], "dataset.rotation is not a setting of the dataset pair moons; "
                                              "its settings: dataset.n_per_domain"),
    (["dataset.rotation_deg=[1"], "cannot read 'dataset.rotation_deg=[1'"),
    (["checkpoint=first"], "checkpoint='first' is not one of last, best"),
    (["colour=red"], "cannot read 'colour=red'"),
])
def test_bad_arguments_exit_2(run, capsys, args, says):
    assert eval_main([f"run_dir={run}", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dasuite eval: error: ") and says in err


def test_missing_run_dir(capsys, tmp_path):
    assert eval_main(["dataset=moons"]) == 2
    assert "missing run_dir=..." in capsys.readouterr().err
    assert eval_main([f"run_dir={tmp_path / 'nope'}"]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "code", "says"), [
    (["eval", "--help"], 0, "usage: dasuite eval"),
    (["eval", "run_dir=x", "colour=red"], 2, "cannot read 'colour=red'"),
    (["eval", "run_dir=x", "dataset=moonz"], 2, "dataset='moonz' is not a dataset pair"),
])
def test_help_and_argument_errors_import_no_torch(argv, code, says, tmp_path):
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["code"] == code and says in answer["out"] + answer["err"]
    assert answer["heavy"] == []
