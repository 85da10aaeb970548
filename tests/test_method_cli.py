"""Every method of the catalogue trains through the real CLI and leaves a valid run folder.

One ``dasuite train -m method=...`` sweep over every file in configs/method/ (2 epochs per stage
on the default pair, moons_adapt), so a new method YAML is covered without editing this file; the
variants that a sweep over names cannot express (CDAN+E, self-training on top of DANN) run
in-process through the same config composition.
"""

import json

import pytest

from dasuite.config.catalog import choices
from tests.conftest import assert_valid_run_folder, deployment_methods, run_cli, train_in_process

#: Methods that need a vision-transformer backbone: trained on vit_tiny in tests/test_cdtrans.py, tests/test_ssrt.py.
VIT_ONLY = {"cdtrans", "ssrt"}
#: ... and the test-time methods, which adapt a trained run (tests/test_test_time.py, test_test_time_methods.py).
METHODS = [m for m in choices("method") if m not in VIT_ONLY | deployment_methods()]
#: pretraining + adaptation: epochs of the second stage with trainer.epochs=2 (finetune: its target_epochs)
TWO_STAGES = {"adda": 2, "shot": 2, "finetune": 50}


def test_the_swept_catalogue_includes_the_core_methods():
    assert {"source_only", "dann", "mmd", "finetune", "cdan", "coral", "adda", "jan", "mcc", "self_training",
            "rotation", "shot"} <= set(METHODS)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    result = run_cli("train", "-m", f"method={','.join(METHODS)}", "trainer.epochs=2", "trainer.progress=false",
                     f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    return result, root / "sweep"


def test_sweep_over_every_method_succeeds(sweep):
    result, _ = sweep
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_writes_a_valid_run_folder(sweep, method):
    _, root = sweep
    runs = {json.loads(p.read_text())["method"]: p.parent for p in root.glob("*/summary.json")}
    assert method in runs, sorted(runs)
    summary = assert_valid_run_folder(runs[method])
    assert summary["dataset"] == "moons_adapt" and summary["backbone"] == "mlp"
    stages = [json.loads(line)["stage"] for line in (runs[method] / "metrics.jsonl").read_text().splitlines()]
    if method in TWO_STAGES:
        first = stages[0]
        assert stages == [first] * 2 + [stages[-1]] * TWO_STAGES[method] and stages[-1] != first, stages
    else:
        assert summary["epochs"] == 2 and len(set(stages)) == 1


@pytest.mark.parametrize("overrides", [("method=cdan", "method.entropy=true"),
                                       ("method=self_training", "method.base=dann", "+method.base_args.trade_off=0.3"),
                                       ("method=self_training", "method.base=adda")])
def test_method_variants_train(tmp_path, overrides):
    summary = train_in_process(tmp_path, *overrides, "trainer.epochs=2")
    assert summary["status"] == "completed", summary.get("error")
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == summary["epochs"] == (4 if "method.base=adda" in overrides else 2)
    assert summary["target_acc"] == rows[-1]["target/acc"] and (tmp_path / "checkpoints" / "last.pt").is_file()


def test_adda_logs_both_players_and_self_training_logs_its_term(tmp_path):
    train_in_process(tmp_path / "adda", "method=adda", "trainer.epochs=1")
    rows = [json.loads(line) for line in (tmp_path / "adda" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["stage"] == "source" and "train/cls" in rows[0]
    assert rows[1]["stage"] == "adapt" and {"train/disc/disc", "train/main/confusion"} <= set(rows[1])
    train_in_process(tmp_path / "st", "method=self_training", "method.base=dann", "trainer.epochs=1")
    row = json.loads((tmp_path / "st" / "metrics.jsonl").read_text().splitlines()[0])
    assert {"train/cls", "train/domain", "train/pseudo"} <= set(row)


def test_a_bad_base_fails_before_training_with_one_clear_line(tmp_path):
    result = run_cli("train", "method=self_training", "method.base=danm", f"hydra.run.dir={tmp_path / 'run'}",
                     cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "method.base='danm' is not a method; choose one of" in lines[0], result.stderr
