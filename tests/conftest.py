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

from dasuite.catalog import config_dir

FAST = ["trainer.progress=false", "trainer.plots=false"]


def compose_config(*overrides: str, with_hydra: bool = False):
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return compose("config", overrides=list(overrides), return_hydra_config=with_hydra)


def train_in_process(run_dir: Path, *overrides: str) -> dict:
    """Run one experiment without Hydra's launcher (fast); returns its summary."""
    from dasuite.train import run_experiment, run_meta

    cfg = compose_config(*FAST, *overrides, with_hydra=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return run_experiment(cfg, run_dir, run_meta(cfg, choices, overrides, run_dir))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed entry point, as a user runs it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "dasuite", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=600)


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture
def tmp_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path
