"""Every file fault is one paragraph: a full disk, a damaged metrics.jsonl line, a headerless CSV for
predict; and written files follow the user's umask."""

import errno
import io
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from dasuite.commands.predict import main as predict_main
from dasuite.commands.predict import predict
from dasuite.engine.run_folder import RunFolder, exclusive
from dasuite.safe_files import write_atomic
from dasuite.errors import ConfigError
from tests.conftest import read_summary, train_in_process

RUN = ["dataset=blobs", "method=source_only", "trainer.epochs=2", "trainer.lr_schedule=constant"]


class FullAfter(io.RawIOBase):
    """A file whose disk fills up after ``room`` bytes."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.f.write(data)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("faults") / "run"
    assert train_in_process(run_dir, *RUN)["status"] == "completed"
    return run_dir


def test_a_full_disk_mid_checkpoint_names_the_file_and_the_free_space_and_keeps_the_previous(tmp_path):
    path = RunFolder(tmp_path).save_checkpoint({"epoch": 1})
    with pytest.raises(ConfigError) as caught:  # torch.save's own error: "enforce fail at inline_container"
        write_atomic(path, lambda f: torch.save({"epoch": 2, "x": torch.zeros(10000)}, FullAfter(f, 1000)))
    assert str(caught.value).startswith(f"cannot write {path}: the disk is full (")
    assert "MiB free there now). Its previous version, if any, is intact" in str(caught.value)
    assert torch.load(path)["epoch"] == 1 and [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_a_full_disk_fails_the_run_with_that_paragraph(tmp_path, monkeypatch):
    save = torch.save

    def full_disk(state, f):
        save(state, FullAfter(f, 100))

    monkeypatch.setattr(torch, "save", full_disk)
    summary = train_in_process(tmp_path, *RUN)
    assert summary["status"] == "failed" and summary["error_type"] == "ConfigError"
    assert summary["error"].startswith(f"cannot write {tmp_path / 'checkpoints' / 'last.pt'}: the disk is full")
    assert read_summary(tmp_path)["status"] == "failed"


def test_a_full_disk_appending_metrics_names_the_file(tmp_path, monkeypatch):
    run, write = RunFolder(tmp_path), os.write

    def full(fd, data):
        if fd > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, data)

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", full)
        with pytest.raises(ConfigError, match=f"cannot write {run.metrics_file}: the disk is full"):
            run.append_metrics({"epoch": 1})


@pytest.mark.parametrize("line", ["{garbage", "[1, 2]", '{"epoch": "2"}'])
def test_a_damaged_metrics_line_stops_resume_naming_the_file_and_line(line, finished, tmp_path):
    run_dir = shutil.copytree(finished, tmp_path / "run")
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    damaged = "".join([lines[0], line + "\n", *lines[1:]])
    (run_dir / "metrics.jsonl").write_text(damaged)
    summary = train_in_process(run_dir, *RUN, "trainer.epochs=3", resume=True)
    assert summary["status"] == "failed"
    assert summary["error"].startswith(f"{run_dir / 'metrics.jsonl'} line 2 is not a ")
    assert "dasuite changes nothing in it (resume stops here too): delete or repair that line" in summary["error"]
    assert (run_dir / "metrics.jsonl").read_text() == damaged


def test_a_line_cut_short_at_the_end_is_still_dropped(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2, "st')
    assert RunFolder(tmp_path).read_metrics() == [{"epoch": 1}]


def test_predict_refuses_a_headerless_csv_unless_told(finished, tmp_path, capsys):
    rows = np.random.default_rng(0).normal(size=(2, 2))
    np.savetxt(tmp_path / "rows.csv", rows, delimiter=",")
    assert predict_main([f"run_dir={finished}", f"input={tmp_path / 'rows.csv'}"]) == 2
    err = capsys.readouterr().err
    assert f"input={tmp_path / 'rows.csv'}: its first row (" in err and "holds only numbers" in err
    assert "Give header=false to read every row as an input, columns in the order the model was trained on" in err
    path, count = predict(finished, tmp_path / "rows.csv", header="false", progress=False)
    np.save(tmp_path / "rows.npy", rows.astype(np.float32))
    assert count == 2 and path.read_text() == predict(finished, tmp_path / "rows.npy", progress=False,
                                                      overwrite=True)[0].read_text()  # the same predictions.csv


def test_files_follow_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a.json", lambda f: f.write(b"{}"))
        with exclusive(tmp_path):
            pass
        os.umask(0o002)
        RunFolder(tmp_path).write_summary({"status": "completed"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / ".dasuite.lock").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "summary.json").stat().st_mode) == 0o664
    assert json.loads((tmp_path / "summary.json").read_text()) == {"status": "completed"}
