"""The label-free pick: checkpoints/best.pt, summary.json's best_* fields, and what selection may read."""

import dataclasses
import inspect
import json
import math
import tempfile

import numpy as np
import pytest
import torch
import yaml

from dasuite.config.catalog import config_dir
from dasuite.engine.checkpoint import read_checkpoint
from dasuite.engine.ensv import agreements
from dasuite.engine.predictions import load_predictions, predictions_file
from dasuite.engine.selection import SELECTORS, Selection
from dasuite.errors import ConfigError
from dasuite.validators import VALIDATORS
from tests.conftest import compose_config, train_in_process


def record(epoch, value, collapsed=False, target=0.5):
    return {"epoch": epoch, "val/snd": value, "guard/collapsed": collapsed, "target/acc": target, "source/acc": 0.9}


def test_selection_prefers_unflagged_epochs_then_the_higher_score_and_keeps_the_earlier_tie():
    pick = Selection("snd")
    assert pick.offer(record(1, 0.9, collapsed=True))  # the only candidate so far
    assert pick.offer(record(2, 0.1))  # any unflagged epoch beats a flagged one
    assert not pick.offer(record(3, 5.0, collapsed=True))
    assert pick.offer(record(4, 0.4, target=0.2))  # the score decides, not target accuracy
    assert not pick.offer(record(5, 0.4, target=0.99))  # a tie keeps the earlier epoch
    assert not pick.offer(record(6, float("nan")))
    assert pick.summary() == {"select": "snd", "best_epoch": 4, "best_value": 0.4, "best_collapsed": False,
                              "best_target_acc": 0.2, "best_source_acc": 0.9}
    restored = Selection("snd")
    restored.load_state_dict(pick.state_dict())
    assert restored.summary() == pick.summary()


def test_a_run_keeps_best_pt_at_the_epoch_its_validator_picks(tmp_path):
    summary = train_in_process(tmp_path, "trainer.epochs=12", "trainer.select=im")
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    candidates = [m for m in metrics if not m["guard/collapsed"]] or metrics
    expected = max(candidates, key=lambda m: (m["val/im"], -m["epoch"]))
    assert summary["select"] == "im"
    assert summary["best_epoch"] == expected["epoch"]
    assert summary["best_value"] == pytest.approx(expected["val/im"])
    assert summary["best_target_acc"] == expected["target/acc"]
    best = read_checkpoint(tmp_path / "checkpoints" / "best.pt", "read")
    last = read_checkpoint(tmp_path / "checkpoints" / "last.pt", "read")
    assert best["epoch"] == expected["epoch"] and last["epoch"] == 12
    assert all(set(m) >= {f"val/{v}" for v in VALIDATORS} | {"guard/class_fraction", "guard/histogram_entropy",
                                                             "guard/collapsed"} for m in metrics)
    # MixVal has inter-cluster probes exactly when both moons classes are predicted (NaN is written as null)
    assert all((m["val/mixval"] is not None) == (m["guard/class_fraction"] == 1) for m in metrics)


def test_ensv_keeps_best_pt_at_the_epoch_that_agrees_most_with_the_epochs_ensemble(tmp_path):
    summary = train_in_process(tmp_path, "dataset=blobs", "trainer.epochs=3", "trainer.select=ensv")
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    predictions = [load_predictions(predictions_file(tmp_path, m["epoch"])) for m in metrics]
    assert all(p.shape == predictions[0].shape and np.allclose(p.sum(1), 1, atol=1e-2) for p in predictions)
    scores = agreements(predictions)
    candidates = [k for k, m in enumerate(metrics) if not m["guard/collapsed"]] or range(len(metrics))
    expected = max(candidates, key=lambda k: (scores[k], -k))
    assert (summary["select"], summary["best_epoch"]) == ("ensv", metrics[expected]["epoch"])
    assert summary["best_value"] == pytest.approx(scores[expected])
    assert summary["best_target_acc"] == metrics[expected]["target/acc"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best.pt", "last.pt"]  # candidates gone
    assert read_checkpoint(tmp_path / "checkpoints" / "best.pt", "read")["epoch"] == summary["best_epoch"]


def test_the_default_selector_is_ensv_in_the_config_the_callbacks_and_the_report():
    from dasuite.commands.report.select import DEFAULT_SELECT
    from dasuite.engine.callbacks.defaults import default_callbacks
    from dasuite.engine.callbacks.model_selection import ModelSelection

    default = yaml.safe_load((config_dir() / "trainer" / "default.yaml").read_text())["select"]
    assert default == DEFAULT_SELECT == inspect.signature(default_callbacks).parameters["select"].default == "ensv"
    assert inspect.signature(ModelSelection).parameters["select"].default == default
    assert default in SELECTORS


def test_a_multi_stage_method_picks_from_its_last_stage(tmp_path):
    summary = train_in_process(tmp_path, "method=finetune", "dataset.target_labels_per_class=3", "trainer.epochs=4")
    stages = {m["epoch"]: m["stage"] for m in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())}
    assert stages[summary["best_epoch"]] == stages[max(stages)] != stages[1]


def test_an_unknown_validator_is_named_with_the_choices(tmp_path):
    summary = train_in_process(tmp_path, "trainer.select=accuracy")
    assert summary["status"] == "failed"
    assert summary["error"] == ("trainer.select='accuracy' is neither a validator nor a selector; valid choices: "
                                "source_acc, iwcv, dev, entropy, im, bnm, class_ami, snd, mixval, ensv (or null: no "
                                "label-free pick).")


def test_validators_guard_and_ensv_never_read_target_labels():
    """Shuffling the target labels changes target accuracy and mean per-class accuracy and nothing a validator
    (MixVal included) or the guard reports, nor the stored predictions, nor EnsV's pick (``trainer.select=ensv``)."""
    from dasuite.engine.run_folder import RunFolder
    from dasuite.assembly.method import build_method
    from dasuite.assembly.pair import build_pair
    from dasuite.assembly.trainer import build_trainer

    cfg = compose_config("dataset=blobs", "trainer.epochs=3", "trainer.progress=false", "trainer.plots=false",
                         "dataset.n_target_test=200", "trainer.select=ensv",  # blobs: three classes, none collapsed
                         "trainer.metrics=[accuracy,mean_class_accuracy]")
    results, picks, predictions = [], [], []
    for shuffle in (False, True):
        pair = build_pair(cfg.dataset)
        if shuffle:
            test = pair.target_test
            pair = dataclasses.replace(pair, target_test=dataclasses.replace(
                test, y=test.y[torch.randperm(len(test.y), generator=torch.Generator().manual_seed(3))]))
        torch.manual_seed(0)
        method = build_method(cfg, pair.input_shape, pair.num_classes)
        with tempfile.TemporaryDirectory() as run_dir:
            result = build_trainer(cfg.trainer).fit(method, pair, RunFolder(run_dir), seed=0)
            results.append(RunFolder(run_dir).read_metrics())
            picks.append({k: v for k, v in result.selection.items() if not k.startswith("best_target_")})
            predictions.append([load_predictions(predictions_file(run_dir, e)) for e in (1, 2, 3)])
    plain, shuffled = results
    assert picks[0] == picks[1] and picks[0]["select"] == "ensv"
    assert all(np.array_equal(a, b) for a, b in zip(*predictions))
    for key in ("target/acc", "target/mean_class_acc"):
        assert any(a[key] != b[key] for a, b in zip(plain, shuffled))
    for a, b in zip(plain, shuffled):
        unlabelled = {k: v for k, v in a.items() if k.startswith(("val/", "guard/"))}
        assert len(unlabelled) == 12  # nine validators, three guard values
        assert unlabelled == {k: b[k] for k in unlabelled}
        assert all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in unlabelled.values())


def test_evaluation_rejects_out_of_range_guard_thresholds():
    from dasuite.engine.callbacks.evaluation import Evaluation

    with pytest.raises(ConfigError, match="collapse_min_entropy=1.5"):
        Evaluation(collapse_min_entropy=1.5)
    with pytest.raises(ConfigError, match="validation_samples"):
        Evaluation(validation_samples=1)


def test_eval_every_evaluates_each_nth_epoch_and_always_the_last(tmp_path):
    train_in_process(tmp_path / "n", "trainer.epochs=7", "trainer.eval_every=3")
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "n" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [3, 6, 7]
    train_in_process(tmp_path / "auto", "trainer.epochs=120")  # auto: about 50 per stage, here every 3rd
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "auto" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(3, 121, 3))
    assert train_in_process(tmp_path / "bad", "trainer.eval_every=0")["error"].startswith("trainer.eval_every=0 must")
