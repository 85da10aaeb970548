"""Data-parallel training under torchrun: real 2-process gloo runs on the CPU, and the rank sharding.

Tolerance. One process with batch 2·b and two ranks with batch b each see the same global batches
(the same seeded permutation, split between the ranks), and batch-mean losses average to the same
gradient, so the two runs differ only by floating-point rounding. Measured on moons, 100 epochs,
seeds 0-4, ``trainer.batch_size=64`` in one process against 2 × 32 under torchrun (CPU, gloo):
DANN and source-only reached identical target accuracies (difference 0.000 for every seed); MMD,
whose per-rank MMD² is another estimator than the global batch's, differed by at most 0.002.
The tests allow 0.01.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dasuite.engine.distributed import Distributed
from dasuite.engine.sampler import CyclicBatches
from dasuite.errors import ConfigError
from tests import fake_data
from tests.conftest import FAST, GENERIC, read_summary, train_in_process

TOLERANCE = 0.01  # target accuracy, as a fraction (see the module docstring)


def torchrun(cwd: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=2 -m dasuite train`` on the CPU, as a user runs it."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
               "-m", "dasuite", "train", *FAST, *GENERIC, "trainer.device=cpu", *overrides]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def the_one_run_folder(cwd: Path) -> Path:
    """The only run folder under ``cwd/runs``, with nothing else beside it."""
    folders = [p for p in (cwd / "runs").glob("*/*") if p.is_dir()]
    assert len(folders) == 1, folders
    assert sorted(p.name for p in (cwd / "runs").iterdir()) == [folders[0].parent.name]
    return folders[0]


def test_two_ranks_on_moons_write_one_run_folder_and_match_one_process(tmp_path):
    result = torchrun(tmp_path, "trainer.epochs=100", "trainer.batch_size=32", "seed=1")
    assert result.returncode == 0, result.stderr[-3000:]
    run = the_one_run_folder(tmp_path)
    summary = read_summary(run)
    assert summary["status"] == "completed" and summary["world_size"] == 2
    assert result.stdout.count("Run folder:") == 1  # rank 0 alone reports
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 50 and summary["steps"] == 200  # eval_every=auto: every 2nd epoch; 135 source samples / (2 ranks × 32) = 2 steps
    assert (run / "checkpoints" / "last.pt").is_file() and (run / ".hydra" / "config.yaml").is_file()
    single = train_in_process(tmp_path / "single", "trainer.epochs=100", "trainer.batch_size=64", "seed=1")
    assert abs(summary["target_acc"] - single["target_acc"]) <= TOLERANCE, (summary["target_acc"],
                                                                            single["target_acc"])


def test_two_ranks_train_adda_on_a_digits_fixture(tmp_path):
    """Two stages, two optimizers (discriminator, then encoder), a convolutional backbone. LeNet's dropout
    is off: each rank draws the masks of its own b samples, unlike one process drawing 2·b."""
    root = tmp_path / "data"
    fake_data.write_mnist(root, "train", n=80)
    fake_data.write_usps(root, "train", n=40)
    fake_data.write_usps(root, "test", n=40)
    overrides = ["dataset=mnist_usps", f"data_root={root}", "method=adda", "trainer.epochs=2",
                 "backbone.dropout=0"]
    result = torchrun(tmp_path, *overrides, "trainer.batch_size=8")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(the_one_run_folder(tmp_path))
    assert summary["status"] == "completed" and summary["world_size"] == 2 and summary["epochs"] == 4
    single = train_in_process(tmp_path / "single", *overrides, "trainer.batch_size=16")
    assert summary["steps"] == single["steps"]  # an epoch is one pass over the source set by all ranks
    assert abs(summary["target_acc"] - single["target_acc"]) <= TOLERANCE


def test_ranks_draw_disjoint_shards_that_make_up_the_single_process_batch():
    ranks = [CyclicBatches(20, 4, torch.Generator().manual_seed(3), rank=r, world_size=2) for r in range(2)]
    single = CyclicBatches(20, 8, torch.Generator().manual_seed(3))
    assert ranks[0].batches_per_pass == single.batches_per_pass == 2
    epochs = []
    for _ in range(2 * single.batches_per_pass):
        shards = [r.next() for r in ranks]
        assert len(shards[0]) == 4 and not set(shards[0].tolist()) & set(shards[1].tolist())
        assert torch.equal(torch.cat(shards), single.next())
        epochs.append(shards[0])
    assert not torch.equal(torch.cat(epochs[:2]).sort().values, torch.cat(epochs[2:]).sort().values)


def _average_on_rank(rank: int, port: int, results) -> None:
    """One of two gloo ranks: the epoch means of sums in which only rank 1 has ``pairs`` (a value its steps logged)."""
    from dasuite.engine.distributed import shutdown

    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    sums = {"loss": torch.tensor(2.0 + rank), "cls": torch.tensor(1.0)}
    if rank == 1:
        sums["pairs"] = torch.tensor(6.0)
    results.put((rank, {k: v.item() for k, v in Distributed("auto", sync_batchnorm=False).average(sums).items()}))
    shutdown()


def test_the_ranks_average_every_name_any_of_them_logged_counting_it_0_where_absent():
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    results = torch.multiprocessing.get_context("spawn").SimpleQueue()
    torch.multiprocessing.spawn(_average_on_rank, args=(port, results), nprocs=2)
    means = dict(results.get() for _ in range(2))
    assert means[0] == means[1] == {"cls": 1.0, "loss": 2.5, "pairs": 3.0}


def test_distributed_settings_that_cannot_hold_are_errors(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ConfigError, match="not started by torchrun"):
        Distributed(True, sync_batchnorm=False)
    with pytest.raises(ConfigError, match=r"trainer.distributed='sometimes' is not one of auto, true, false"):
        Distributed("sometimes", sync_batchnorm=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="trainer.distributed=false but torchrun started several processes"):
        Distributed(False, sync_batchnorm=False)
