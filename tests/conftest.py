"""Shared helpers: compose configs and run experiments in-process or through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from dasuite.config.catalog import config_dir

FAST = ["trainer.progress=false", "trainer.plots=false"]
#: The settings most tests are written against: the 35° moons with the trainer's and methods' own defaults,
#: on image pairs too (a test names its pair; the recipes' 2,500-iteration epochs are not what it checks).
GENERIC = ["dataset=moons", "family=none", "recipe=none"]


def compose_config(*overrides: str, with_hydra: bool = False):
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose("config", overrides=list(overrides), return_hydra_config=with_hydra)


def train_in_process(run_dir: Path, *overrides: str, resume: bool = False, recipes: bool = False,
                     trusted_modules: tuple[str, ...] = ()) -> dict:
    """Run one experiment without Hydra's launcher (fast); returns its summary. ``resume``: continue
    from the run folder's checkpoint, as ``dasuite train resume=DIR`` does (``trusted_modules``: as its
    ``trusted_modules=``); ``recipes``: with the real defaults (the default pair, families and recipes)
    instead of :data:`GENERIC`."""
    from dasuite.commands.train import run_experiment

    cfg = compose_config(*FAST, *([] if recipes else GENERIC), *overrides, with_hydra=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return run_experiment(cfg, run_dir, choices, overrides, resume=resume, trusted_modules=trusted_modules)


def run_cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """The installed entry point, as a user runs it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "dasuite", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=timeout)


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def pytest_configure(config):
    """Under pytest-xdist (``-n N``) each worker gets its share of the cores, for torch and for the processes
    its tests start: N workers each running torch on every core would slow each other down several-fold."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


@pytest.fixture
def tmp_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


SUMMARY_KEYS = {"status": str, "dataset": str, "method": str, "backbone": str, "seed": int,
                "target_acc": float, "source_acc": float, "train_seconds": float, "samples_per_second": float}


def assert_valid_run_folder(run_dir: Path) -> dict:
    """The run-folder contract (docs/architecture.md); returns the summary."""
    import torch

    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "train.log").is_file()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows and [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        assert isinstance(row["step"], int) and isinstance(row["time_s"], float)
        assert 0.0 <= row["target/acc"] <= 1.0 and 0.0 <= row["source/acc"] <= 1.0
        assert any(k.startswith("train/") for k in row)
    summary = read_summary(run_dir)
    for key, kind in SUMMARY_KEYS.items():
        assert isinstance(summary[key], kind), (key, summary.get(key))
    assert summary["status"] == "completed"
    assert summary["target_acc"] == rows[-1]["target/acc"] and summary["source_acc"] == rows[-1]["source/acc"]
    assert summary["samples_per_second"] > 0 and summary["train_seconds"] > 0
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert state["epoch"] == len(rows) and state["model"]
    assert list((run_dir / "plots").glob("*.png"))
    return summary


def method_class(name: str) -> type:
    """The class ``configs/method/<name>.yaml`` names in its ``_target_``."""
    import importlib

    from dasuite.config.catalog import config_dir

    text = (config_dir() / "method" / f"{name}.yaml").read_text()
    target = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("_target_:"))
    module, cls = target.rsplit(".", 1)
    return getattr(importlib.import_module(module), cls)


def deployment_methods() -> set[str]:
    """The methods of configs/method/ that adapt a trained model at test time (a TestTimeMethod: they start from a
    trained run, init_from=, and are trained in tests/test_test_time*.py, not on the default pair)."""
    from dasuite.config.catalog import choices
    from dasuite.methods.test_time import TestTimeMethod

    return {name for name in choices("method") if issubclass(method_class(name), TestTimeMethod)}
