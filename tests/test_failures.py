"""Failures that must not cost a good run: divergence, crashes mid-write; and reruns that agree."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from dasuite.engine.divergence import DivergenceGuard, TrainingDiverged
from dasuite.engine.run_folder import RunFolder
from dasuite.safe_files import write_atomic
from tests.conftest import read_summary, train_in_process

NAN = ["method=source_only", "method._target_=tests.helpers.NaNAtStep", "+method.nan_step=5", "trainer.epochs=3"]


def test_a_nan_loss_fails_the_run_at_its_step_and_keeps_the_last_good_checkpoint(tmp_path):
    summary = train_in_process(tmp_path, *NAN)
    assert summary["status"] == "failed" and summary["error_type"] == "TrainingDiverged"
    assert summary["diverged_step"] == 6  # the sixth step: epoch 2 of 4-step epochs
    assert summary["loss_terms"] == {"loss": "nan", "cls": "nan"}
    assert "training diverged at step 6 (epoch 2, stage source, optimizer main)" in summary["error"]
    assert "checkpoints/last.pt keeps epoch 1" in summary["error"]
    assert summary["error"].endswith("Lower trainer.lr (now 0.01).")
    assert read_summary(tmp_path)["loss_terms"] == {"loss": "nan", "cls": "nan"}
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert [r["epoch"] for r in RunFolder(tmp_path).read_metrics()] == [1]


def test_an_absurd_learning_rate_diverges_in_the_first_epoch_without_a_checkpoint(tmp_path):
    summary = train_in_process(tmp_path, "trainer.lr=1e8", "trainer.epochs=2")
    assert summary["status"] == "failed" and "No checkpoint was written" in summary["error"]
    assert summary["diverged_step"] <= 4 and not (tmp_path / "checkpoints" / "last.pt").exists()


def test_on_an_accelerator_the_guard_reports_the_first_bad_step_at_its_next_check():
    guard = DivergenceGuard(torch.device("cpu"), "hint", check_every=10)
    guard.on_host = False  # the device path: record now, read back at check()
    finite = {"cls": torch.tensor(0.5)}
    for step in range(1, 4):
        guard.observe(step, "epoch 1", finite, torch.tensor(0.5))
    guard.check()  # nothing bad yet
    guard.observe(4, "epoch 1", {"cls": torch.tensor(float("inf"))}, torch.tensor(float("inf")))
    guard.observe(5, "epoch 1", {"cls": torch.tensor(float("nan"))}, torch.tensor(float("nan")))
    with pytest.raises(TrainingDiverged, match=r"step 4 \(epoch 1\).*loss=inf, cls=inf") as caught:
        for step in range(6, 11):  # step 10 is a check
            guard.observe(step, "epoch 1", finite, torch.tensor(0.5))
    assert caught.value.fields["diverged_step"] == 4


def test_a_crash_mid_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "checkpoints" / "last.pt"
    RunFolder(tmp_path).save_checkpoint({"epoch": 1})

    def crash(f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(path, crash)
    assert torch.load(path)["epoch"] == 1 and [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_a_process_killed_mid_write_leaves_the_previous_file(tmp_path):
    RunFolder(tmp_path).write_summary({"status": "completed"})
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from dasuite.safe_files import write_atomic

        def write(f):
            f.write(b'{{"status": "fai')
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)  # dies here, without cleaning up

        write_atomic(Path({str(tmp_path / "summary.json")!r}), write)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -9
    assert json.loads((tmp_path / "summary.json").read_text()) == {"status": "completed"}
    leftovers = list(tmp_path.glob(".summary.json.*.tmp"))
    assert len(leftovers) == 1  # removed when the run resumes:
    RunFolder(tmp_path).remove_temporary_files()
    assert not list(tmp_path.glob(".*.tmp"))


def _values(run_dir):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in RunFolder(run_dir).read_metrics()]


def test_deterministic_runs_give_identical_metrics(tmp_path):
    for name in ("a", "b"):
        summary = train_in_process(tmp_path / name, "trainer.epochs=3", "seed=7", "trainer.deterministic=true",
                                   "method=cdan")
        assert summary["status"] == "completed"
    assert _values(tmp_path / "a") == _values(tmp_path / "b") and len(_values(tmp_path / "a")) == 3
    assert not torch.are_deterministic_algorithms_enabled()  # the setting is restored afterwards


def test_a_second_signal_stops_at_once_naming_it_and_the_handlers_come_back():
    import os
    import signal

    from dasuite.engine.signals import StopRequests, TrainingInterrupted

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(TrainingInterrupted) as caught, StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signal == signal.SIGTERM  # the first one only asks
        os.kill(os.getpid(), signal.SIGTERM)
    assert caught.value.exit_code == 128 + signal.SIGTERM and caught.value.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_resume_removes_only_the_temporary_files_of_atomic_writes(tmp_path):
    """In the folder, checkpoints/ and .hydra/; a user's own .tmp file and a folder of that name stay."""
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / ".hydra").mkdir()
    ours = [tmp_path / ".summary.json.0a1b2c3d.tmp", tmp_path / "checkpoints" / ".last.pt.deadbeef.tmp",
            tmp_path / ".hydra" / ".overrides.yaml.01234567.tmp"]
    theirs = [tmp_path / ".notes.tmp", tmp_path / "checkpoints" / ".draft.tmp"]
    for path in ours + theirs:
        path.write_text("x")
    (tmp_path / ".cache.12345678.tmp").mkdir()
    RunFolder(tmp_path).remove_temporary_files()
    assert not any(path.exists() for path in ours)
    assert all(path.exists() for path in theirs) and (tmp_path / ".cache.12345678.tmp").is_dir()
