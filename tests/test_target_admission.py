"""A ``_target_`` read from a file is admitted by its name alone: nothing it names is imported to decide.

With the working directory on ``sys.path`` (``python -m dasuite``, notebooks) a module beside or inside a
shared run folder would run if dasuite imported what the folder's config names; each entry point must
refuse it, naming the target, the file and the two ways to allow it, and the module must never run.
"""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dasuite import evaluate, load_run, train
from dasuite.commands import eval as eval_command
from dasuite.commands.eval import evaluate_run
from dasuite.commands.export import export
from dasuite.commands.predict import predict
from dasuite.commands.train import run_train
from dasuite.engine.admission import check_targets
from dasuite.errors import ConfigError
from tests.conftest import FAST, GENERIC, read_summary, run_cli, train_in_process

RUN = ["method=source_only", "trainer.epochs=1"]
PAYLOAD = """\
import pathlib
pathlib.Path({marker!r}).write_text("imported")
import torch


class Net(torch.nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
"""
TARGETS = ("shared_run.payload.Net", "payload.Net")  # a module inside the run folder; one in the working directory


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("admission") / "run"
    assert train_in_process(run_dir, *RUN)["status"] == "completed"
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*FAST, *GENERIC, *RUN]))
    return run_dir


@pytest.fixture
def work(clean_run, tmp_path):
    """A working directory holding ``payload.py`` and the run folder ``shared_run`` (with its own ``payload.py``);
    either module creates ``tmp_path/marker`` when imported."""
    work = tmp_path / "work"
    shutil.copytree(clean_run, work / "shared_run")
    for folder in (work, work / "shared_run"):
        (folder / "payload.py").write_text(PAYLOAD.format(marker=str(tmp_path / "marker")))
    np.save(work / "x.npy", np.zeros((3, 2), dtype=np.float32))
    return work


@pytest.fixture
def notebook(work, monkeypatch):
    """This process as a notebook started in ``work``: the working directory first on sys.path."""
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    yield work
    assert not {"payload", "shared_run", "shared_run.payload"} & set(sys.modules)


def _plant(run_dir: Path, target: str, where: str, **more) -> Path:
    """Name ``target`` as the run's method in its checkpoint's config, or (a checkpoint storing none) in
    .hydra/config.yaml; returns that file."""
    path = run_dir / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    config = {**state.pop("config"), **more}
    config["method"] = {**config["method"], "_target_": target}
    if where == "checkpoint":
        state["config"] = config
    else:
        (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(state, path)
    return path if where == "checkpoint" else run_dir / ".hydra" / "config.yaml"


def _assert_refused(message: str, target: str) -> None:
    assert f"method._target_={target!r}, which dasuite does not build from a file" in message
    assert f"trusted_modules=[{target.rpartition('.')[0]}]" in message and "trust_checkpoint=true" in message


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["checkpoint", "hydra_config"])
@pytest.mark.parametrize("target", TARGETS)
def test_no_entry_point_imports_a_module_a_run_folder_names(target, where, notebook, tmp_path):
    source = _plant(notebook / "shared_run", target, where)
    run_dir = Path("shared_run")
    calls = {"eval": lambda: evaluate_run(run_dir, device="cpu", output=tmp_path / "eval.json"),
             "predict": lambda: predict(run_dir, "x.npy", progress=False, output=tmp_path / "p.csv"),
             "export": lambda: export(run_dir, output=tmp_path / "model.pt2"),
             "load_run": lambda: load_run(run_dir),
             "evaluate": lambda: evaluate(run_dir)}
    for name, call in calls.items():
        with pytest.raises(ConfigError) as refused:
            call()
        _assert_refused(str(refused.value), target)
        assert str(source.relative_to(notebook)) in str(refused.value), name
        assert not (tmp_path / "marker").exists(), name
    if where == "checkpoint":  # a resume compares the checkpoint's config with the run's, reading its method
        summary = train_in_process(run_dir, *RUN, "trainer.epochs=2", resume=True)
        assert summary["status"] == "failed" and "the config stored with shared_run/checkpoints/last.pt" in \
            summary["error"]
        _assert_refused(summary["error"], target)
        assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize(("command", "args"), [("eval", []), ("predict", ["input=x.npy"]),
                                               ("export", ["output=model.pt2"])])
def test_python_m_dasuite_in_the_folder_above_a_shared_run_runs_nothing(command, args, work, tmp_path):
    _plant(work / "shared_run", TARGETS[0], "checkpoint")
    result = run_cli(command, "run_dir=shared_run", *args, cwd=work, timeout=300)
    assert result.returncode == 2, result.stderr
    _assert_refused(result.stderr, TARGETS[0])
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("target", TARGETS)
def test_resume_refuses_saved_overrides_naming_a_local_module_before_touching_the_folder(target, work, tmp_path):
    overrides = work / "shared_run" / ".hydra" / "overrides.yaml"
    overrides.write_text(yaml.safe_dump([*FAST, *GENERIC, *RUN, f"method._target_={target}"]))
    before = _files(work / "shared_run")
    result = run_cli("train", "resume=shared_run", "trainer.epochs=2", cwd=work, timeout=300)
    assert result.returncode == 2, result.stderr
    assert f"shared_run/.hydra/overrides.yaml sets method._target_={target!r}" in result.stderr
    _assert_refused(result.stderr, target)
    assert not (tmp_path / "marker").exists() and _files(work / "shared_run") == before


def test_a_trust_written_in_the_run_folder_is_ignored(notebook, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    _plant(notebook / "shared_run", TARGETS[0], "checkpoint", trusted_modules=["shared_run"])
    with pytest.raises(ConfigError, match="shared_run.payload.Net"):
        load_run("shared_run")
    overrides = notebook / "shared_run" / ".hydra" / "overrides.yaml"
    overrides.write_text(yaml.safe_dump([*FAST, *GENERIC, *RUN, "+trusted_modules=[shared_run]",
                                         f"method._target_={TARGETS[0]}"]))
    assert run_train(["resume=shared_run"]) == 2
    assert not (tmp_path / "marker").exists()


USER_MODULE = """\
from pathlib import Path

from dasuite.engine.callbacks.base import Callback
from dasuite.methods.source_only import SourceOnly


class MyMethod(SourceOnly):
    \"\"\"Source-only under a user's own name.\"\"\"


class CountEpochs(Callback):
    def __init__(self, path: str):
        self.path = Path(path)

    def after_epoch(self, state):
        with self.path.open("a") as f:
            f.write("epoch\\n")
"""


def test_trusted_modules_admit_a_users_own_components(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    (tmp_path / "lib" / "mylab").mkdir(parents=True)
    (tmp_path / "lib" / "mylab" / "__init__.py").write_text("")
    (tmp_path / "lib" / "mylab" / "parts.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    notes, folder = tmp_path / "notes.txt", tmp_path / "run"
    run = train([*FAST, *GENERIC, *RUN, "method._target_=mylab.parts.MyMethod",
                 f"trainer.callbacks=[{{_target_:mylab.parts.CountEpochs,path:'{notes}'}}]"], run_dir=folder)
    assert run.summary["status"] == "completed" and notes.read_text() == "epoch\n"  # named in the call: trusted

    with pytest.raises(ConfigError, match=r"_target_='mylab\.parts\.(MyMethod|CountEpochs)'.*trusted_modules="):
        load_run(folder)
    loaded = load_run(folder, trusted_modules=["mylab"])
    assert type(loaded.method).__name__ == "MyMethod"
    assert evaluate(loaded)["accuracy"] == run.summary["target_acc"]  # read again with the trust it was loaded with
    assert evaluate(folder, trusted_modules=["mylab.parts"])["accuracy"] == run.summary["target_acc"]
    assert load_run(folder, trust=True).summary["status"] == "completed"  # trust_checkpoint=true, as before
    assert eval_command.main([f"run_dir={folder}", "trusted_modules=[mylab]", f"output={tmp_path / 'e.json'}"]) == 0

    assert run_train([f"resume={folder}", "trainer.epochs=2"]) == 2  # refused before Hydra writes anything
    assert "trusted_modules=[mylab.parts]" in capsys.readouterr().err and notes.read_text() == "epoch\n"
    assert run_train([f"resume={folder}", "trainer.epochs=2", "trusted_modules=[mylab]"]) == 0
    assert read_summary(folder)["epochs"] == 2 and notes.read_text() == "epoch\nepoch\n"


def test_trusted_modules_goes_with_resume_only_and_takes_module_names(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    assert run_train(["trusted_modules=[mylab]", "trainer.epochs=1"]) == 2
    assert "trusted_modules goes with resume=DIR only" in capsys.readouterr().err
    assert eval_command.main([f"run_dir={tmp_path}", "trusted_modules=[my-lab]"]) == 2
    assert "trusted_modules: 'my-lab' is not a module name" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["torch.nn.Linear", "torch.nn.modules.linear.Linear", "torch.nn.GELU",
                                    "dasuite.engine.callbacks.early_stopping.EarlyStopping",
                                    "dasuite.methods.dann.DANN", "dasuite.data.toy.moons"])
def test_dasuite_and_torch_nn_components_are_admitted_by_name(target):
    check_targets({"backbone": {"layer": {"_target_": target}}}, "a file")


@pytest.mark.parametrize(("target", "reason"), [
    ("os.system", "its module os is neither dasuite's nor torch.nn's"),
    ("builtins.open", "its module builtins is neither"),
    ("subprocess.run", "its module subprocess is neither"),
    ("collections.OrderedDict", "its module collections is neither"),
    ("torch.load", "its module torch is neither"),
    ("torch.nn.functional.relu", "not a torch.nn.Module class"),
    ("torch.nn.Parameter", "not a torch.nn.Module class"),
    ("torch.nn.not_loaded.Net", "not a torch.nn.Module class"),
    ("dasuite.engine.run_folder.RunFolder", "not a torch.nn.Module or Callback class defined in"),
    ("dasuite.payload.Net", "not one of dasuite's components"),
    ("tests.helpers.os", "not a torch.nn.Module or Callback class defined in tests.helpers"),
    (["not", "a", "name"], "not the dotted name"),
])
def test_anything_else_is_refused(target, reason):
    with pytest.raises(ConfigError, match=r"\.yaml sets backbone\._target_=") as refused:
        check_targets({"backbone": {"_target_": target}}, "a/config.yaml", modules=["tests"])
    assert reason in str(refused.value)
    assert "torch.nn.not_loaded" not in sys.modules


def test_the_refusal_is_one_paragraph():
    with pytest.raises(ConfigError) as refused:
        check_targets({"trainer": {"callbacks": [{"_target_": "mylab.cb.Notify"}]}}, "run/.hydra/config.yaml")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("run/.hydra/config.yaml sets trainer.callbacks[0]._target_='mylab.cb.Notify', which "
                              "dasuite does not build from a file: its module mylab.cb is neither dasuite's")
    assert "trusted_modules=[mylab.cb]" in message and "trust_checkpoint=true" in message


@pytest.mark.parametrize("value", ["${oc.decode:'[{_target_: payload.Net}]'}", "x ${oc.create:{_target_: payload.Net}}",
                                   "${oc.select:missing,{_target_: payload.Net}}", "${${name}:'{_target_: x.Y}'}",
                                   "${oc.env:HOME,${oc.decode:'{_target_: payload.Net}'}}"])
def test_a_resolver_that_can_build_a_target_is_refused_in_a_file(value):
    """The check reads the file as written: a resolver could make a _target_ out of text after it."""
    with pytest.raises(ConfigError) as refused:
        check_targets({"trainer": {"callbacks": [value]}}, "run/.hydra/config.yaml")
    message = str(refused.value)
    assert message.startswith(f"run/.hydra/config.yaml sets trainer.callbacks[0]={value!r}, an interpolation")
    assert "trust_checkpoint=true" in message and "\n" not in message
    check_targets({"trainer": {"callbacks": [value]}}, "run/.hydra/config.yaml", everything=True)


@pytest.mark.parametrize("value", ["${data_root}", "${.sibling}/x", "${oc.env:XDG_CACHE_HOME,'~/.cache'}/dasuite",
                                   "${now:%Y-%m-%d}", "${ data_root }", "plain text with $ and {braces}"])
def test_key_references_and_text_resolvers_are_admitted(value):
    check_targets({"cache_dir": value, "method": {"_target_": "dasuite.methods.dann.DANN"}}, "a file")


def test_resume_refuses_saved_overrides_that_build_a_target_by_resolving(work, tmp_path):
    """A run that never started starts on resume, instantiating its saved overrides' callbacks."""
    run_dir = work / "shared_run"
    for entry in ("checkpoints", "summary.json", "metrics.jsonl"):
        shutil.rmtree(run_dir / entry) if (run_dir / entry).is_dir() else (run_dir / entry).unlink(missing_ok=True)
    built = "trainer.callbacks='${oc.decode:\"[{_target_: payload.Net}]\"}'"
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*FAST, *GENERIC, *RUN, built]))
    before = _files(run_dir)
    result = run_cli("train", "resume=shared_run", cwd=work, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "shared_run/.hydra/overrides.yaml sets trainer.callbacks=" in result.stderr
    assert not (tmp_path / "marker").exists() and _files(run_dir) == before
