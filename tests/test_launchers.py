"""Hydra sweepers and launchers: an Optuna search maximising the label-free validator, joblib jobs in
parallel, the Slurm example config; a missing plugin names the extra to install."""

import json

import pytest
import yaml

from dasuite.commands.train import run_train
from tests.conftest import compose_config, run_cli

FAST = ["trainer.epochs=2", "trainer.progress=false", "trainer.plots=false"]


def test_a_missing_plugin_names_the_extra(monkeypatch, capsys):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert run_train(["-m", "hydra/sweeper=dasuite_optuna"]) == 2
    assert 'hydra/sweeper=dasuite_optuna needs the hydra-optuna-sweeper package' in capsys.readouterr().err
    assert run_train(["-m", "hydra/launcher=dasuite_slurm"]) == 2
    assert 'pip install "dasuite[slurm]"' in capsys.readouterr().err


def test_optuna_sweep_maximises_the_selected_validator(tmp_cwd):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper",
                        reason='hydra/sweeper=optuna needs the extra: pip install "dasuite[optuna]"')
    done = run_cli("train", "-m", "hydra/sweeper=dasuite_optuna", "hydra.sweeper.n_trials=2", "hydra.sweep.dir=sweep",
                   "trainer.select=source_acc", *FAST, cwd=tmp_cwd)
    assert done.returncode == 0, done.stderr
    summaries = [json.loads((tmp_cwd / "sweep" / job / "summary.json").read_text()) for job in ("0", "1")]
    assert all(s["status"] == "completed" and s["select"] == "source_acc" for s in summaries)
    result = yaml.safe_load((tmp_cwd / "sweep" / "optimization_results.yaml").read_text())
    best = max(summaries, key=lambda s: s["best_value"])
    assert result["best_value"] == best["best_value"]  # the validator's value, not target accuracy
    assert set(result["best_params"]) == {"method.trade_off", "trainer.lr"}
    assert f"method.trade_off={result['best_params']['method.trade_off']}" in best["overrides"]


def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_cwd):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher",
                        reason='hydra/launcher=joblib needs the extra: pip install "dasuite[joblib]"')
    # the command ends with its jobs: joblib's idle workers (alive for 300 s) must not hold its console open
    done = run_cli("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1",
                   "hydra.sweep.dir=sweep", *FAST, cwd=tmp_cwd, timeout=150)
    assert done.returncode == 0, done.stderr
    summaries = [json.loads((tmp_cwd / "sweep" / job / "summary.json").read_text()) for job in ("0", "1")]
    assert [s["status"] for s in summaries] == ["completed", "completed"] and [s["seed"] for s in summaries] == [0, 1]


def test_slurm_example_config_composes_with_the_submitit_launcher():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher",
                        reason='hydra/launcher=submitit_slurm needs the extra: pip install "dasuite[slurm]"')
    launcher = compose_config("hydra/launcher=dasuite_slurm", with_hydra=True).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.timeout_min == 120 and launcher.cpus_per_task == 4
