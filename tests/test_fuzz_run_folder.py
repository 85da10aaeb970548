"""Random byte-level damage to each file of a finished run folder, then predict, export, eval or resume
of it: each ends in a clear error (a ConfigError, or Hydra's own one-line error) or in the undamaged
run's result, and leaves the folder's other files as they were.

Random damage to the folder's structure too: entries replaced by symbolic links (to a copy outside, to
nothing, to a folder outside), named pipes, folders, or foreign files; then predict, export, eval, resume
or report. Each returns (no wait on a pipe), ends in a clear error or the undamaged result, and writes
nothing outside the folder.

The CI profile runs ``DASUITE_FUZZ_EXAMPLES`` examples of byte damage (default 100, about 5 s on 2 CPU
cores) and ``DASUITE_FUZZ_STRUCTURE_EXAMPLES`` of structure (default 25); a longer hunt:
``DASUITE_FUZZ_EXAMPLES=2000 DASUITE_FUZZ_STRUCTURE_EXAMPLES=500 pytest tests/test_fuzz_run_folder.py``.
"""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import HydraException
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from omegaconf import open_dict
from omegaconf.errors import OmegaConfBaseException

from dasuite.commands.eval import evaluate_run
from dasuite.commands.export import export
from dasuite.commands.predict import predict
from dasuite.commands.report import report
from dasuite.commands.resume import resume_arguments
from dasuite.commands.train import run_experiment, run_train
from dasuite.errors import ConfigError
from tests.conftest import compose_config
from tests.test_run_folder_files import returns

EPOCHS = 2
RUN = ["dataset=blobs", "method=source_only", f"trainer.epochs={EPOCHS}", "trainer.progress=false",
       "trainer.plots=false"]
FILES = ["checkpoints/last.pt", "metrics.jsonl", "summary.json", ".hydra/config.yaml", ".hydra/overrides.yaml"]
ENTRY_POINTS = ["predict", "export", "eval", "resume"]
EXAMPLES = int(os.environ.get("DASUITE_FUZZ_EXAMPLES", "100"))
#: What an entry point may change besides the damaged file: the lock file names its holder.
REWRITTEN = {".dasuite.lock"}
STRUCTURE_EXAMPLES = int(os.environ.get("DASUITE_FUZZ_STRUCTURE_EXAMPLES", "25"))
#: Entries a structure change replaces, and with what.
ENTRIES = [*FILES, "checkpoints/best.pt", ".dasuite.lock", "checkpoints", ".hydra", "predictions", "train.log"]
KINDS = ["link", "dangling link", "folder link", "named pipe", "folder", "foreign file"]
structure = st.lists(st.tuples(st.sampled_from(ENTRIES), st.sampled_from(KINDS)), min_size=1, max_size=3,
                     unique_by=lambda change: change[0].split("/")[0])  # no change inside another's entry

damage = st.tuples(st.sampled_from(["flip", "truncate", "overwrite", "insert"]),
                   st.one_of(st.floats(0, 1, exclude_max=True), st.integers(0, 300)),  # anywhere, or the header
                   st.binary(min_size=1, max_size=16), st.integers(0, 7))


def _damaged(data: bytes, how) -> bytes:
    kind, where, chunk, bit = how
    at = min(len(data) - 1, int(where * len(data)) if isinstance(where, float) else where)
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ 1 << bit]) + data[at + 1:]
    if kind == "truncate":
        return data[:at]
    if kind == "overwrite":
        return data[:at] + chunk + data[at + len(chunk):]
    return data[:at] + chunk + data[at:]


def _resume(run_dir: Path) -> dict:
    """``dasuite train resume=run_dir`` in this process, without Hydra's launcher (which rewrites .hydra/)."""
    args = resume_arguments([f"resume={run_dir}"])
    cfg = compose_config(*[a for a in args if not a.startswith("hydra.run.dir=")], with_hydra=True)
    epochs = cfg.trainer.epochs
    if isinstance(epochs, int) and epochs > EPOCHS:  # the saved overrides ask for more epochs: it would extend
        return {"extends_to": epochs}  # the run (as resume=DIR trainer.epochs=N does), not tested here
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return run_experiment(cfg, run_dir, choices, [], resume=True)


def _call(entry: str, run_dir: Path, out: Path, inputs: Path):
    """The entry point's result, reduced to what must equal the undamaged run's."""
    if entry == "predict":
        return predict(run_dir, inputs, output=out / "predictions.csv", progress=False)[0].read_text()
    if entry == "export":
        model = torch.jit.load(str(export(run_dir, "torchscript", output=out / "model.pt")[0]))
        return model(torch.from_numpy(np.load(inputs))).tolist()
    if entry == "eval":
        result = evaluate_run(run_dir, device="cpu", output=out / "eval.json")[1]
        return {k: result[k] for k in ("accuracy", "confusion_matrix", "epoch", "class_names")}
    if entry == "report":
        return report([run_dir], out=out / "report")
    summary = _resume(run_dir)
    if "extends_to" in summary:
        return summary
    if summary["status"] != "completed":
        assert summary["error_type"] == "ConfigError", summary  # a clear paragraph, not a crash
        raise ConfigError(summary["error"])
    return {k: summary[k] for k in ("status", "epochs", "target_acc", "best_epoch")}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One small finished run (its .hydra/ written by Hydra), inputs for it, and each entry point's result."""
    root = tmp_path_factory.mktemp("fuzz")
    assert run_train([*RUN, f"hydra.run.dir={root / 'run'}"]) == 0
    (root / "run" / "train.log").unlink()  # Hydra's log handler may still append to it in this process
    np.save(root / "x.npy", np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32))
    expected = {}
    for entry in ENTRY_POINTS:
        with tempfile.TemporaryDirectory() as scratch:
            run_dir = shutil.copytree(root / "run", Path(scratch) / "run")
            expected[entry] = _call(entry, run_dir, Path(scratch), root / "x.npy")
    return root, expected


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(file=st.sampled_from(FILES), how=damage, entry=st.sampled_from(ENTRY_POINTS))
def test_damaged_run_folder_files_give_a_clear_error_or_the_undamaged_result(finished, file, how, entry):
    root, expected = finished
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = shutil.copytree(root / "run", Path(scratch) / "run")
        target = run_dir / file
        target.write_bytes(_damaged(target.read_bytes(), how))
        before = _files(run_dir)
        try:
            result = _call(entry, run_dir, Path(scratch), root / "x.npy")
        except (ConfigError, HydraException, OmegaConfBaseException) as error:  # Hydra prints its own one line
            event(f"{entry}: {type(error).__name__}")
        else:
            if "extends_to" in result:
                assert file == ".hydra/overrides.yaml", result
                event("resume: extension asked")
            else:
                assert result == expected[entry], (file, how)
                event(f"{entry}: result")
        after = _files(run_dir)
        changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
        assert changed <= REWRITTEN | {file}, changed


def _replace(path: Path, kind: str, outside: Path) -> None:
    """Put ``kind`` where ``path`` was; a link points to a copy of what was there, in ``outside``."""
    copy = outside / f"{len(list(outside.iterdir()))}-{path.name}"
    if path.is_dir() and not path.is_symlink():
        shutil.copytree(path, copy)
        shutil.rmtree(path)
    elif os.path.lexists(path):
        shutil.copy(path, copy)
        path.unlink()
    else:
        copy.write_bytes(b"the user's own file\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "link":
        path.symlink_to(copy)
    elif kind == "dangling link":
        path.symlink_to(outside / "nothing")
    elif kind == "folder link":
        path.symlink_to(outside, target_is_directory=True)
    elif kind == "named pipe":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
        (path / "foreign.txt").write_text("not dasuite's\n")
    else:
        path.write_bytes(b"not dasuite's\n")


def _entries(folder: Path) -> dict[str, object]:
    """Every entry under ``folder`` without following links or opening pipes: a file's bytes, else its kind."""
    found = {}
    for root, folders, files in os.walk(folder):
        for name in folders + files:
            path = Path(root) / name
            key = path.relative_to(folder).as_posix()
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_fifo():
                found[key] = "pipe"
            elif path.is_file():
                found[key] = path.read_bytes()
    return found


@settings(max_examples=STRUCTURE_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=structure, entry=st.sampled_from([*ENTRY_POINTS, "report"]))
def test_links_pipes_and_foreign_entries_in_a_run_folder_give_a_clear_error_and_no_write_outside(
        finished, changes, entry):
    root, expected = finished
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = shutil.copytree(root / "run", Path(scratch) / "run")
        outside = Path(scratch) / "outside"
        outside.mkdir()
        for name, kind in changes:
            _replace(run_dir / name, kind, outside)
        before, outside_before = _entries(run_dir), _entries(outside)
        pipes = [run_dir / name for name, kind in changes if kind == "named pipe"]
        try:
            result = returns(lambda: _call(entry, run_dir, Path(scratch), root / "x.npy"), fifos=pipes)
        except (ConfigError, HydraException, OmegaConfBaseException) as error:
            event(f"{entry}: {type(error).__name__}")
        else:
            if entry == "report":
                assert result in (0, 1)
            elif "extends_to" not in result:
                assert result == expected[entry], changes
            event(f"{entry}: result")
        assert _entries(outside) == outside_before, changes
        after = _entries(run_dir)
        changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
        touched = {name for name, _ in changes}
        assert all(name in REWRITTEN or name.split("/")[0] in touched or name in touched for name in changed), changed
