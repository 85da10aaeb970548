"""Adaptation itself works: on a pair with a pure covariate shift, aligning features helps.

Measured on the default `blobs` pair (3 Gaussian classes, target translated by (1.5, 1.5)), 100
epochs, seeds 0-2, on the 2-core CPU dev machine (pytest -s shows the numbers):
source-only 94.5 %, DANN 98.3 %, MMD 97.4 % mean target accuracy. The margins asserted below are
about half the measured gains.

On the default `moons` pair (35 degrees) DANN and MMD do NOT beat source-only with the default
settings (README, "Results on the toy pairs"), so moons is not used to assert a gain here.
"""

import statistics

import pytest

from tests.conftest import train_in_process

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def blobs_target_acc(tmp_path_factory):
    root = tmp_path_factory.mktemp("blobs")
    acc = {}
    for method in ("source_only", "dann", "mmd"):
        runs = [train_in_process(root / f"{method}{seed}", "dataset=blobs", f"method={method}",
                                 "trainer.epochs=100", f"seed={seed}") for seed in SEEDS]
        acc[method] = statistics.mean(run["target_acc"] for run in runs)
    print("blobs mean target accuracy:", {k: round(100 * v, 1) for k, v in acc.items()})
    return acc


def test_dann_beats_source_only_on_shifted_blobs(blobs_target_acc):
    assert blobs_target_acc["dann"] >= blobs_target_acc["source_only"] + 0.02


def test_mmd_beats_source_only_on_shifted_blobs(blobs_target_acc):
    assert blobs_target_acc["mmd"] >= blobs_target_acc["source_only"] + 0.015
