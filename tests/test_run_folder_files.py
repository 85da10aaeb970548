"""Nothing planted in a run folder is written through or waited on (:mod:`dasuite.safe_files`): a symbolic link
where a command writes leaves its target byte-identical and fails with one line naming the path; a named pipe
where a command reads is refused at once; a user's own report.md is kept; a full disk or a read-only folder is
one paragraph and leaves no partial file."""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from dasuite.commands import eval as eval_command
from dasuite.commands import export as export_command
from dasuite.commands import predict as predict_command
from dasuite.commands import report as report_command
from dasuite.commands.train import run_train
from dasuite.safe_files import UnsafeFile, open_read, write_atomic

RUN = ["dataset=blobs", "method=source_only", "trainer.epochs=2", "trainer.progress=false", "trainer.plots=false"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished run, its .hydra/ written by Hydra (as resume needs), and its report written once."""
    run_dir = tmp_path_factory.mktemp("files") / "run"
    assert run_train([*RUN, f"hydra.run.dir={run_dir}"]) == 0
    (run_dir / "train.log").unlink()  # Hydra's log handler may still append to it in this process
    return run_dir


@pytest.fixture
def run(finished, tmp_path):
    """A copy of the finished run to plant things in, and an ``outside`` folder beside it."""
    (tmp_path / "outside").mkdir()
    np.save(tmp_path / "x.npy", np.zeros((3, 2), dtype=np.float32))
    return shutil.copytree(finished, tmp_path / "run", symlinks=True)


def returns(call, timeout: float = 120, fifos=()):
    """``call()``'s result; fails the test when it has not returned after ``timeout`` seconds (a blocked open or
    read of a named pipe: the pipes in ``fifos`` are then opened for writing and closed, to release it)."""
    box = {}

    def target():
        try:
            box["result"] = call()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for fifo in fifos:
            os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))
        pytest.fail(f"did not return within {timeout} s: it waits on a named pipe")
    if "error" in box:
        raise box["error"]
    return box["result"]


def _command(name: str, run_dir: Path):
    """``dasuite <name>`` of ``run_dir`` in this process, as a function returning its exit status."""
    inputs = run_dir.parent / "x.npy"
    return {
        "resume": lambda: run_train([f"resume={run_dir}", "trainer.epochs=3"]),
        "eval": lambda: eval_command.main([f"run_dir={run_dir}", "device=cpu"]),
        "export": lambda: export_command.main([f"run_dir={run_dir}"]),
        "predict": lambda: predict_command.main([f"run_dir={run_dir}", f"input={inputs}", "progress=false",
                                                 f"output={run_dir.parent / 'out.csv'}"]),
        "report": lambda: report_command.main([str(run_dir)]),
    }[name]


def _one_line_naming(err: str, path: Path) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path.parent.resolve() / path.name) in lines[0] or str(path) in lines[0], (lines[0], path)
    return lines[0]


# (entry planted as a link, command that writes there): the link points to a copy of the entry outside
@pytest.mark.parametrize("entry, command", [
    (".dasuite.lock", "resume"), (".hydra/config.yaml", "resume"), (".hydra/hydra.yaml", "resume"),
    ("summary.json", "resume"), ("metrics.jsonl", "resume"), ("checkpoints/last.pt", "resume"),
    ("checkpoints", "resume"), ("export/model.pt2", "export"), ("export", "export"), ("eval", "eval"),
    ("report.md", "report"), ("report.csv", "report"), ("tensorboard", "resume"), ("mlruns", "resume"),
])
def test_a_link_where_a_command_writes_leaves_its_target_alone(run, entry, command, capsys):
    planted, outside = run / entry, run.parent / "outside" / Path(entry).name
    if planted.is_dir():
        shutil.copytree(planted, outside)
        shutil.rmtree(planted)
    elif planted.exists():
        shutil.copy(planted, outside)
        planted.unlink()
    else:  # export/, eval/, report.*: something of the user's the link points to
        outside.mkdir() if "." not in entry else outside.write_text("the user's own file\n")
        (outside / "keep.txt").write_text("keep\n") if outside.is_dir() else None
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.symlink_to(outside)
    before = _tree(run.parent / "outside")
    code = returns(_command(command, run))
    assert code == 2
    line = _one_line_naming(capsys.readouterr().err, planted)
    assert "it is a symbolic link to " in line
    assert _tree(run.parent / "outside") == before


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


PIPED = ["summary.json", "metrics.jsonl", ".hydra/config.yaml", "checkpoints/last.pt"]
#: The files of PIPED each command must read (eval, predict and export may read more, e.g. eval the summary).
READS = {"resume": set(PIPED), "report": set(PIPED[:3]), "eval": {PIPED[3]}, "predict": {PIPED[3]},
         "export": {PIPED[3]}}


@pytest.mark.parametrize("entry", PIPED)
@pytest.mark.parametrize("command", list(READS))
def test_a_named_pipe_where_a_command_reads_is_refused_at_once(run, entry, command, capsys):
    fifo = run / entry
    fifo.unlink()
    os.mkfifo(fifo)
    code = returns(_command(command, run), fifos=[fifo])
    err = capsys.readouterr().err
    if command == "report" and entry in READS["report"]:  # the run is left out of the tables, saying why
        assert code == 1 and f"left out {run.resolve()}: cannot read {run.resolve() / entry}: it is a named pipe" in err
    elif code != 0 or entry in READS[command]:
        assert code == 2 and "named pipe (FIFO)" in _one_line_naming(err, fifo)
    assert fifo.is_fifo()


def test_open_read_refuses_a_device_and_a_folder_but_reads_through_a_link(tmp_path):
    (tmp_path / "file").write_text("data")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    assert open_read(tmp_path / "link").read() == b"data"
    for path, what in (("/dev/null", "a character device"), (tmp_path, "a folder")):
        with pytest.raises(UnsafeFile, match=f"cannot read {path}: it is {what}"):
            open_read(Path(path))


def test_a_users_own_report_is_kept_and_the_report_says_where_to_write(run, capsys):
    (run / "report.md").write_text("my notes\n")
    assert report_command.main([str(run)]) == 2
    line = _one_line_naming(capsys.readouterr().err, run / "report.md")
    assert "was not written by dasuite report" in line and "--out DIR" in line
    assert (run / "report.md").read_text() == "my notes\n" and not (run / "report.csv").exists()
    out = run.parent / "reports"
    assert report_command.main([str(run), "-o", str(out)]) == 0
    first = (out / "report.md").read_bytes()
    (out / "report.md").write_text("stale")  # a report it wrote, then edited by hand: kept too
    assert report_command.main([str(run), "-o", str(out)]) == 2
    (out / "report.md").write_bytes(first)  # as the report wrote it: replaced again
    assert report_command.main([str(run), "-o", str(out)]) == 0
    assert (out / "report.md").read_bytes() == first


@pytest.mark.parametrize("entry, content, problem", [
    ("summary.json", "[1, 2]", "holds a list, not the mapping dasuite writes there"),
    ("summary.json", '{"status": "compl', "(JSONDecodeError: Unterminated string"),
    (".hydra/config.yaml", "dataset: [oops", "(ParserError: while parsing a flow sequence"),
    (".hydra/hydra.yaml", "- a list", "holds a list, not the mapping"),
])
def test_report_names_a_damaged_summary_or_config(run, entry, content, problem, capsys):
    (run / entry).write_text(content)
    if entry == ".hydra/hydra.yaml":  # read only for a group choice the summary does not name
        (run / "summary.json").write_text('{"status": "completed"}')
    assert report_command.main([str(run), "-o", str(run.parent / "reports")]) == 1
    err = capsys.readouterr().err
    assert f"left out {run.resolve()}: " in err and str(run.resolve() / entry) in err and problem in err, err
    assert problem in (run.parent / "reports" / "report.md").read_text()


def _full_disk(fd):
    """os.fsync of a file whose writes ran out of space (as a full disk or quota reports it at the latest)."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_export_into_a_full_disk_keeps_the_previous_model_and_leaves_no_partial_file(run, monkeypatch, capsys):
    assert export_command.main([f"run_dir={run}"]) == 0
    before = _tree(run / "export")
    capsys.readouterr()
    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", _full_disk)
        assert export_command.main([f"run_dir={run}"]) == 2
    line = _one_line_naming(capsys.readouterr().err, run / "export" / "model.pt2")
    assert "the disk is full" in line
    assert _tree(run / "export") == before  # no temporary file left beside them either


def _chmod_folders(folder: Path, mode: int) -> None:
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        path.chmod(mode)


def _read_only(folder: Path, monkeypatch) -> None:
    """``folder`` read-only: by its mode, or (root ignores modes) by EACCES from every write into it."""
    if os.geteuid() != 0:
        _chmod_folders(folder, 0o500)
        return
    inside = str(folder.resolve())
    real_open, real_mkdir = os.open, os.mkdir

    def refused(path) -> bool:
        return os.path.abspath(path).startswith(inside)

    def open_(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and refused(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if refused(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)


@pytest.mark.parametrize("command", ["resume", "eval", "export", "report"])
def test_a_read_only_run_folder_is_one_paragraph(run, command, monkeypatch, capsys):
    before = _tree(run)
    try:
        with monkeypatch.context() as patched:
            _read_only(run, patched)
            code = _command(command, run)()
    finally:
        if os.geteuid() != 0:
            _chmod_folders(run, 0o700)
    assert code == 2
    line = _one_line_naming(capsys.readouterr().err, run)
    assert "(the folder or file system is read-only, or not yours). Nothing was changed there." in line
    assert _tree(run) == before


def test_write_atomic_refuses_a_link_on_the_way_inside_the_run_folder(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "plots").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeFile, match=f"cannot write {tmp_path / 'run' / 'plots'}: it is a symbolic link to"):
        write_atomic(tmp_path / "run" / "plots" / "curves.png", b"png", within=tmp_path / "run")
    write_atomic(tmp_path / "run" / "plots" / "curves.png", b"png")  # without within: a folder the user named
    assert (tmp_path / "elsewhere" / "curves.png").read_bytes() == b"png"
    assert [p.name for p in (tmp_path / "elsewhere").iterdir()] == ["curves.png"]


def test_a_resumed_sweep_refuses_a_link_in_a_job_folder_before_hydra_writes(tmp_path, capsys):
    sweep, outside = tmp_path / "sweep", tmp_path / "outside.yaml"
    (sweep / "0" / ".hydra").mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("hydra:\n  overrides:\n    task:\n    - dataset=blobs\n    - seed=1,2\n")
    outside.write_text("the user's own file\n")
    (sweep / "0" / ".hydra" / "config.yaml").symlink_to(outside)
    assert run_train([f"resume={sweep}"]) == 2
    line = _one_line_naming(capsys.readouterr().err, sweep / "0" / ".hydra" / "config.yaml")
    assert "it is a symbolic link to " in line
    assert outside.read_text() == "the user's own file\n" and sorted(p.name for p in sweep.iterdir()) == [
        "0", "multirun.yaml"]


def test_a_new_run_in_a_read_only_working_directory_is_one_paragraph(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: access(path, mode) and Path(path) != Path.cwd())
    assert run_train(RUN) == 2
    line = _one_line_naming(capsys.readouterr().err, tmp_path)
    assert "Permission denied (the folder or file system is read-only, or not yours)" in line
    assert "hydra.run.dir=DIR names the folder to write" in line and not list(tmp_path.iterdir())


def test_an_optuna_sweep_folder_taken_again_refuses_a_linked_job_folder_before_hydra_writes(tmp_path, capsys):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep, outside = tmp_path / "sweep", tmp_path / "outside"
    sweep.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n")
    (sweep / "0").symlink_to(outside)  # a numbered job folder: the sweep's own kind of entry, but elsewhere
    assert run_train(["-m", "hydra/sweeper=dasuite_optuna", "hydra.sweeper.n_trials=1", "trainer.select=source_acc",
                      *RUN, f"hydra.sweep.dir={sweep}"]) == 2
    line = _one_line_naming(capsys.readouterr().err, sweep / "0")
    assert "it is a symbolic link to " in line
    assert _tree(outside) == {"keep.txt": b"keep\n"} and [p.name for p in sweep.iterdir()] == ["0"]


def test_a_new_run_under_a_read_only_folder_is_one_paragraph_naming_it(tmp_path, monkeypatch, capsys):
    parent = tmp_path / "shared"
    parent.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: access(path, mode) and Path(path) != parent)
    assert run_train([*RUN, f"hydra.run.dir={parent / 'new' / 'run'}"]) == 2
    line = _one_line_naming(capsys.readouterr().err, parent)
    assert "(the folder or file system is read-only, or not yours)" in line
    assert "hydra.run.dir=DIR names the folder to write" in line and not list(parent.iterdir())
