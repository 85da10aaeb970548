"""logger=wandb, offline by default, against a stand-in for the wandb package (not installed in CI)."""

import sys
import types

import pytest

from tests.conftest import train_in_process


class FakeRun:
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
