"""Files dasuite reads never run code: malicious checkpoints, configs and CIFAR batches are refused with
a clear error (``trust_checkpoint=true`` is the explicit opt-in for old checkpoints)."""

import builtins
import functools
import pickle
import re
import shutil

import numpy as np
import pytest
import torch

from dasuite.commands.eval import evaluate_run
from dasuite.commands.export import export
from dasuite.commands.predict import predict
from dasuite.commands.train import run_train
from dasuite.data.cifar import read_cifar10
from dasuite.errors import ConfigError
from tests import fake_data
from tests.conftest import read_summary, train_in_process

RUN = ["dataset=blobs", "method=source_only", "trainer.select=source_acc", "trainer.epochs=2"]


class WritesMarker:
    """Unpickled, it creates the file ``marker``: what a malicious pickle could do instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("untrusted") / "run"
    assert train_in_process(run_dir, *RUN)["status"] == "completed"
    return run_dir


@pytest.fixture
def run(clean_run, tmp_path):
    """A copy of the finished run, free to damage; inputs for predict beside it."""
    shutil.copytree(clean_run, tmp_path / "run")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32))
    return tmp_path / "run"


def _entry_points(run_dir):
    """predict, export, eval and resume of ``run_dir``: each must raise a ConfigError."""
    inputs = run_dir.parent / "x.npy"
    yield "predict", lambda: predict(run_dir, inputs, progress=False)
    yield "export", lambda: export(run_dir, output=run_dir.parent / "model.pt")
    yield "eval", lambda: evaluate_run(run_dir, device="cpu", output=run_dir.parent / "eval.json")

    def resume():
        summary = train_in_process(run_dir, *RUN, resume=True)
        assert summary["status"] == "failed"
        raise ConfigError(summary["error"])

    yield "resume", resume


def test_a_checkpoint_that_would_run_code_is_refused_by_every_entry_point(run, tmp_path):
    path, marker = run / "checkpoints" / "last.pt", tmp_path / "marker"
    state = torch.load(path, weights_only=True)
    torch.save({**state, "payload": WritesMarker(marker)}, path)
    for name, call in _entry_points(run):
        with pytest.raises(ConfigError) as caught:
            call()
        message = str(caught.value)
        assert str(path) in message and "(io.open)" in message, name  # what pickle calls builtins.open
        assert "can run any code" in message and "trust_checkpoint=true" in message, name
        assert not marker.exists(), name
    assert read_summary(run)["status"] == "completed"  # the failed resume kept the completed run's summary


def test_an_old_checkpoint_loads_only_with_trust_checkpoint(run, tmp_path, monkeypatch):
    """Before this format, NumPy's random state was pickled as its tuple (an ndarray inside)."""
    import dasuite.commands.train

    path = run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    state["rng"]["numpy"] = np.random.get_state()
    torch.save(state, path)
    with pytest.raises(ConfigError, match="numpy.* and unpickling such an object can run any code"):
        predict(run, tmp_path / "x.npy", progress=False)
    written, count = predict(run, tmp_path / "x.npy", progress=False, trust_checkpoint=True)
    assert count == 5 and written.is_file()
    monkeypatch.setattr(dasuite.commands.train, "run_experiment", functools.partial(dasuite.commands.train.run_experiment,
                                                                            trust_checkpoint=True))
    summary = train_in_process(run, *RUN[:-1], "trainer.epochs=3", resume=True)
    assert summary["status"] == "completed" and summary["epochs"] == 3


@pytest.mark.parametrize("where", ["method", "preprocess"])
def test_a_config_naming_a_foreign_callable_is_refused(where, run, tmp_path):
    """A checkpoint's config is plain data, but Hydra would call the ``_target_`` it names."""
    path, marker = run / "checkpoints" / "last.pt", tmp_path / "marker"
    state = torch.load(path, weights_only=True)
    evil = {"_target_": "builtins.open", "file": str(marker), "mode": "w"}
    if where == "method":
        state["config"]["method"] = evil
    else:
        state["model_input"]["preprocess"] = evil
    torch.save(state, path)
    for name, call in list(_entry_points(run))[:3]:
        with pytest.raises(ConfigError, match="'builtins.open'.*trust_checkpoint=true"):
            call()
        assert not marker.exists(), name


def test_resume_refuses_saved_overrides_that_name_foreign_code(run, tmp_path):
    marker = tmp_path / "marker"
    summary = train_in_process(run, *RUN, "method._target_=builtins.open", f"+method.file={marker}", resume=True)
    assert summary["status"] == "failed" and "method._target_='builtins.open'" in summary["error"]
    (run / ".hydra").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text("- dataset=blobs\n- +hydra.callbacks.x._target_=builtins.open\n")
    assert run_train([f"resume={run}"]) == 2
    assert not marker.exists() and read_summary(run)["status"] == "completed"


def test_trust_checkpoint_goes_with_resume_only(capsys):
    assert run_train(["trust_checkpoint=true", "trainer.epochs=1"]) == 2
    assert "trust_checkpoint=true goes with resume=DIR only" in capsys.readouterr().err


def test_a_cifar_batch_that_would_run_code_is_refused(tmp_path):
    fake_data.write_cifar10(tmp_path, n_per_batch=4)
    assert len(read_cifar10(tmp_path, "test").y) == 4  # the format itself loads
    batch, marker = tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch", tmp_path / "marker"
    batch.write_bytes(pickle.dumps({"data": WritesMarker(marker), "labels": [0]}))
    with pytest.raises(ConfigError, match=re.escape(str(batch)) + " is not a valid dataset file: .*io.open, which "
                                          "a CIFAR batch never holds"):
        read_cifar10(tmp_path, "test")
    assert not marker.exists()
