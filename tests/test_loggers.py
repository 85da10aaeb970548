"""logger=csv|tensorboard|mlflow|wandb: every metrics.jsonl record reaches the logger at step = epoch, then the
summary. wandb runs against a stand-in for its package (not installed in CI)."""

import json
import sys
import types

import pytest

from dasuite.commands.train import run_train
from tests.conftest import read_summary, train_in_process

EPOCHS = "trainer.epochs=2"
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy")  # mlflow on SQLAlchemy 2.1


def _metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_the_default_csv_logger_writes_only_the_run_folder(tmp_path):
    summary = train_in_process(tmp_path, EPOCHS)
    assert summary["status"] == "completed" and len(_metrics(tmp_path)) == 2
    assert not (tmp_path / "tensorboard").exists() and not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize(("logger", "module", "extra"), [("tensorboard", "tensorboard", "tensorboard"),
                                                          ("mlflow", "mlflow", "mlflow")])
def test_a_missing_logger_package_fails_at_startup_naming_the_extra(tmp_path, monkeypatch, logger, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    summary = train_in_process(tmp_path, f"logger={logger}", EPOCHS)
    assert summary["status"] == "failed" and summary["error_type"] == "ConfigError"
    assert f'pip install "dasuite[{extra}]"' in summary["error"] and module in summary["error"]
    assert not (tmp_path / "metrics.jsonl").exists()  # before any training


def test_a_misspelled_logger_key_is_named_before_training(capsys):
    assert run_train(["logger=mlflow", "logger.experimnt=x"]) == 2
    assert "logger.experiment" in capsys.readouterr().err


def test_tensorboard_logger_writes_every_epoch_and_the_summary(tmp_path):
    pytest.importorskip("tensorboard", reason='logger=tensorboard needs the extra: pip install "dasuite[tensorboard]"')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary = train_in_process(tmp_path, "logger=tensorboard", EPOCHS)
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    rows = _metrics(tmp_path)
    target = events.Scalars("target/acc")
    assert [e.step for e in target] == [1, 2]
    assert [e.value for e in target] == pytest.approx([r["target/acc"] for r in rows])
    assert "train/loss" in events.Tags()["scalars"] and "epoch" not in events.Tags()["scalars"]
    assert events.Scalars("summary/target_acc")[0].value == pytest.approx(summary["target_acc"])


def _mlflow_run(run_dir):
    pytest.importorskip("mlflow", reason='logger=mlflow needs the extra: pip install "dasuite[mlflow]"')
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{run_dir / 'mlruns' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("dasuite").experiment_id])
    return client, run


def test_mlflow_logger_keeps_params_metrics_and_summary_in_the_run_folder(tmp_path):
    pytest.importorskip("mlflow", reason='logger=mlflow needs the extra: pip install "dasuite[mlflow]"')
    summary = train_in_process(tmp_path, "logger=mlflow", EPOCHS, "method.trade_off=0.3")
    client, run = _mlflow_run(tmp_path)
    assert run.info.status == "FINISHED" and run.data.tags["summary.status"] == "completed"
    assert run.data.params["method.trade_off"] == "0.3" and run.data.params["trainer.epochs"] == "2"
    history = client.get_metric_history(run.info.run_id, "target/acc")
    assert sorted((m.step, m.value) for m in history) == [(r["epoch"], r["target/acc"]) for r in _metrics(tmp_path)]
    assert run.data.metrics["summary/target_acc"] == pytest.approx(summary["target_acc"])


def test_mlflow_run_of_a_failed_run_is_marked_failed_and_a_resume_continues_it(tmp_path):
    pytest.importorskip("mlflow", reason='logger=mlflow needs the extra: pip install "dasuite[mlflow]"')
    failed = train_in_process(tmp_path / "failed", "logger=mlflow", "trainer.epochs=3",
                              "method._target_=tests.helpers.FailsInSecondEpoch", "method=source_only")
    assert failed["status"] == "failed"
    _, run = _mlflow_run(tmp_path / "failed")
    assert run.info.status == "FAILED" and "boom in epoch 2" in run.data.tags["summary.error"]

    train_in_process(tmp_path / "resumed", "logger=mlflow", "trainer.epochs=1")
    assert read_summary(tmp_path / "resumed")["status"] == "completed"
    train_in_process(tmp_path / "resumed", "logger=mlflow", "trainer.epochs=2", resume=True)
    client, run = _mlflow_run(tmp_path / "resumed")  # still one MLflow run
    assert run.info.status == "FINISHED"
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "target/acc")) == [1, 2]


class FakeRun:
    """Stands in for a wandb run: keeps its settings, what it logged, its summary and exit code."""

    def __init__(self, **settings):
        self.settings, self.logged, self.summary, self.exit_code = settings, [], {}, None

    def log(self, values, step):
        self.logged.append((step, values))

    def finish(self, exit_code):
        self.exit_code = exit_code


@pytest.fixture
def fake_wandb(monkeypatch):
    module = types.ModuleType("wandb")
    module.runs = []
    module.Settings = lambda **settings: settings

    def init(**settings):
        module.runs.append(FakeRun(**settings))
        return module.runs[-1]

    module.init = init
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def test_wandb_logs_offline_in_the_run_folder_every_record_and_the_summary(fake_wandb, tmp_path):
    summary = train_in_process(tmp_path, "logger=wandb", "trainer.epochs=3", "trainer.eval_every=2")
    assert summary["status"] == "completed", summary.get("error")
    (run,) = fake_wandb.runs
    assert run.settings["mode"] == "offline" and run.settings["dir"] == str(tmp_path.resolve())
    assert run.settings["config"]["trainer"]["epochs"] == 3 and run.settings["resume"] == "allow"
    assert [step for step, _ in run.logged] == [2, 3] and "target/acc" in run.logged[0][1]
    assert run.summary["status"] == "completed" and run.summary["target_acc"] == summary["target_acc"]
    assert run.exit_code == 0
    train_in_process(tmp_path, "logger=wandb", "trainer.epochs=4", "trainer.eval_every=2", resume=True)
    assert fake_wandb.runs[1].settings["id"] == run.settings["id"]  # a resumed run goes on in the same W&B run


def test_wandb_without_the_package_or_with_a_bad_mode_fails_before_training(monkeypatch, fake_wandb, tmp_path):
    bad = train_in_process(tmp_path / "mode", "logger=wandb", "logger.mode=cloud")
    assert bad["error"].startswith("logger.mode='cloud' is not one of offline, online, disabled")
    monkeypatch.setitem(sys.modules, "wandb", None)  # import fails as if it were not installed
    missing = train_in_process(tmp_path / "missing", "logger=wandb")
    assert missing["status"] == "failed" and 'pip install "dasuite[wandb]"' in missing["error"]
    assert not (tmp_path / "missing" / "metrics.jsonl").exists()
