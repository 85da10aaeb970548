"""One writer per run folder: a second training into a folder a live process writes stops at once and
changes nothing; the lock of a killed process never blocks resume."""

import fcntl
import json
import os
import socket
import subprocess
from pathlib import Path

from dasuite.commands.train import run_train
from dasuite.engine.run_folder import LOCK_FILE, RunFolder
from tests.conftest import read_summary, train_in_process
from tests.test_resume import _start_and_pause

PAUSING = ["method._target_=tests.helpers.PausesMidEpoch", "+method.pause_at_step=5", "trainer.epochs=3",
           "trainer.progress=false", "trainer.plots=false"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _start_paused(run_dir: Path, marker: Path) -> subprocess.Popen:
    """``dasuite train`` into ``run_dir``, paused in its second epoch (until ``marker``.go exists)."""
    return _start_and_pause([*PAUSING, f"hydra.run.dir={run_dir}"], marker, run_dir.parent)


def test_a_second_training_into_a_folder_being_written_refuses_and_the_first_completes(tmp_path, capsys):
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    first = _start_paused(run_dir, marker)
    try:
        before = _files(run_dir)
        assert run_train([*PAUSING, f"hydra.run.dir={run_dir}"]) == 2  # stops before Hydra writes .hydra/
        err = capsys.readouterr().err
        assert f"the run folder {run_dir} is being written by another dasuite process (pid {first.pid} on host " \
               f"{socket.gethostname()}, started " in err and "nothing in the folder was changed" in err
        assert train_in_process(run_dir, *PAUSING)["status"] == "busy"  # a job of another launcher, likewise
        assert _files(run_dir) == before
    finally:
        (tmp_path / "marker.go").touch()
        _, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert read_summary(run_dir)["status"] == "completed"
    assert [r["epoch"] for r in RunFolder(run_dir).read_metrics()] == [1, 2, 3]


def test_a_killed_run_resumes_despite_the_lock_file_it_left(tmp_path):
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    first = _start_paused(run_dir, marker)
    first.kill()
    first.communicate()
    assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == first.pid
    assert run_train([f"resume={run_dir}", "trusted_modules=[tests.helpers]"]) == 0
    assert read_summary(run_dir)["status"] == "completed" and read_summary(run_dir)["resumed_from_epoch"] == 1
    assert json.loads((run_dir / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_a_sweep_relaunched_while_it_runs_refuses(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra:\n  overrides:\n    task:\n    - seed=0,1\n")
    with open(sweep / LOCK_FILE, "w") as held:  # another process's lock: its own open file
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write(json.dumps({"pid": 4242, "host": "node7", "started": "2026-01-01T12:00:00+00:00",
                               "command": "dasuite train resume=sweep"}))
        held.flush()
        assert run_train([f"resume={sweep}"]) == 2
    assert f"the run folder {sweep} is being written by another dasuite process (pid 4242 on host node7, " \
           "started 2026-01-01T12:00:00+00:00: dasuite train resume=sweep)" in capsys.readouterr().err
    assert sorted(p.name for p in sweep.iterdir()) == [LOCK_FILE, "multirun.yaml"]


def test_the_lock_is_released_when_the_run_ends(tmp_path):
    train_in_process(tmp_path, "dataset=blobs", "trainer.epochs=1")
    with open(tmp_path / LOCK_FILE) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # would raise BlockingIOError if still held
