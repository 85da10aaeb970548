"""hydra/sweeper=dasuite_optuna resumes: the same sweep run again into its folder tells the study the trials its
finished jobs ran, counts them in n_trials and runs only the rest, in new job folders."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from dasuite.commands import train
from dasuite.commands.train import run_train
from tests.conftest import FAST

optuna = pytest.importorskip("optuna", reason='hydra/sweeper=optuna needs the extra: pip install "dasuite[optuna]"')
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

from dasuite.config.optuna_resume import finished_trials, next_job_number  # noqa: E402 - needs the plugin
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides  # noqa: E402

SWEEP = ["-m", "hydra/sweeper=dasuite_optuna", "hydra.sweep.dir=sweep", "trainer.select=source_acc", *FAST,
         "trainer.epochs=1", "dataset=blobs", "backbone=linear"]
SPACE = ["method.trade_off=tag(log, interval(0.01, 10.0))", "trainer.lr=tag(log, interval(0.0003, 0.1))"]


@pytest.fixture
def argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))


def _params(job) -> dict:
    overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
    return {o.split("=")[0]: o.split("=")[1] for o in overrides if o.startswith(("method.trade_off=", "trainer.lr="))}


def test_a_rerun_into_the_sweep_folder_continues_the_study(tmp_cwd, argv):
    assert run_train([*SWEEP, "hydra.sweeper.n_trials=2"]) == 0
    sweep = tmp_cwd / "sweep"
    before = {job: (sweep / job / "summary.json").read_text() for job in ("0", "1")}
    assert run_train([*SWEEP, "hydra.sweeper.n_trials=3"]) == 0
    assert [Path(job).name for job in train.CURRENT.jobs] == ["2"]  # one job ran, in a folder of its own
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2"]
    assert {job: (sweep / job / "summary.json").read_text() for job in ("0", "1")} == before  # left as they were
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert result["trials"] == 3 and result["earlier_trials"] == 2
    summaries = {job: json.loads((sweep / job / "summary.json").read_text()) for job in ("0", "1", "2")}
    assert result["best_value"] == max(s["best_value"] for s in summaries.values())
    # the reseeded sampler draws new parameters, not the first trial's again
    assert _params(sweep / "2") not in (_params(sweep / "0"), _params(sweep / "1"))


def _job(sweep, name, overrides, summary=None):
    (sweep / name / ".hydra").mkdir(parents=True)
    (sweep / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if summary is not None:
        (sweep / name / "summary.json").write_text(json.dumps(summary))


def test_only_completed_jobs_of_this_search_are_told(tmp_path):
    distributions, fixed = create_params_from_overrides([*SPACE, "dataset=blobs", "trainer.progress=false"])
    mine = ["method.trade_off=0.5", "trainer.lr=0.01", "dataset=blobs", "trainer.progress=False"]
    _job(tmp_path, "0", mine, {"status": "completed", "best_value": 0.75})
    _job(tmp_path, "1", [*mine[:3], "trainer.progress=True"], {"status": "completed", "best_value": 0.5})  # display
    _job(tmp_path, "2", mine, {"status": "failed", "best_value": 0.9})
    _job(tmp_path, "3", mine)  # killed before its summary
    _job(tmp_path, "4", mine, {"status": "completed", "best_value": None})  # returned NaN
    _job(tmp_path, "5", ["method.trade_off=0.5", "trainer.lr=0.01", "dataset=moons"],
         {"status": "completed", "best_value": 0.8})  # another experiment
    _job(tmp_path, "6", ["method.trade_off=50.0", *mine[1:]], {"status": "completed", "best_value": 0.8})  # off space
    trials = finished_trials(tmp_path, distributions, fixed)
    assert [(t.params, t.value) for t in trials] == [({"method.trade_off": 0.5, "trainer.lr": 0.01}, 0.75),
                                                      ({"method.trade_off": 0.5, "trainer.lr": 0.01}, 0.5)]
    assert next_job_number(tmp_path) == 7 and next_job_number(tmp_path / "absent") == 0
