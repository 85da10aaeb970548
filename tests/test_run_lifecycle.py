"""A run's lifecycle never loses or mixes files: a config error removes only what the command created, a new run
or sweep refuses a folder that holds anything, a refused resume changes nothing, a torn metrics line is written
again, eval files a result under the run's own pair and keeps other results, the study resolver deletes
nothing, and unclear inputs get one paragraph before a run folder exists."""

import json
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dasuite.commands.eval import evaluate_run
from dasuite.commands.report.runs import load_run
from dasuite.commands.train import run_train
from dasuite.engine.run_folder import RunFolder
from dasuite.errors import ConfigError
from tests.conftest import FAST, GENERIC, read_summary, train_in_process

TINY = [*GENERIC, *FAST, "method=source_only", "trainer.steps_per_epoch=2", "trainer.lr_schedule=constant"]
MISSING_DATA = ["dataset=arrays", "dataset.source=nofile.csv", "dataset.target=nofile2.csv"]


@pytest.fixture
def argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", list(sys.argv))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_config_error_removes_only_what_the_command_created(tmp_cwd, argv, capsys):
    (tmp_cwd / "logs").mkdir()
    (tmp_cwd / "logs" / "app.log").write_text("keep\n")
    assert run_train(["hydra.run.dir=logs", *MISSING_DATA]) == 2
    assert _files(tmp_cwd / "logs") == {"app.log": b"keep\n"}
    assert "hydra.run.dir=" in capsys.readouterr().err
    (tmp_cwd / "empty").mkdir()
    assert run_train(["hydra.run.dir=empty", *MISSING_DATA]) == 2
    assert (tmp_cwd / "empty").is_dir() and not list((tmp_cwd / "empty").iterdir())  # kept, as it was
    assert run_train(["hydra.run.dir=new/a/b", *MISSING_DATA]) == 2
    assert sorted(p.name for p in tmp_cwd.iterdir()) == ["empty", "logs"]  # new/a/b made for it, and removed


def test_a_new_run_or_sweep_refuses_a_folder_that_holds_one(tmp_cwd, argv, capsys):
    assert run_train([*TINY, "trainer.epochs=2", "hydra.run.dir=run"]) == 0
    assert run_train(["-m", *TINY, "trainer.epochs=1", "seed=0,1", "hydra.sweep.dir=sweep"]) == 0
    capsys.readouterr()
    run, sweep = _files(tmp_cwd / "run"), _files(tmp_cwd / "sweep")
    assert run_train([*TINY, "trainer.epochs=2", "hydra.run.dir=run"]) == 2
    err = capsys.readouterr().err
    assert f"hydra.run.dir={tmp_cwd / 'run'} holds another run" in err and f"resume={tmp_cwd / 'run'}" in err
    assert run_train(["-m", *TINY, "trainer.epochs=1", "seed=0,1", "hydra.sweep.dir=sweep"]) == 2
    assert f"hydra.sweep.dir={tmp_cwd / 'sweep'} holds a sweep" in capsys.readouterr().err
    assert train_in_process(tmp_cwd / "run", *TINY, "trainer.epochs=2")["status"] == "refused"  # no Hydra
    assert _files(tmp_cwd / "run") == run and _files(tmp_cwd / "sweep") == sweep
    assert [r["epoch"] for r in RunFolder(tmp_cwd / "run").read_metrics()] == [1, 2]


def test_report_refuses_metrics_whose_epochs_go_back(tmp_path):
    lines = [{"epoch": e, "target/acc": 0.5} for e in (1, 2, 3, 4, 1, 2)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = load_run(tmp_path)
    assert run.status == "unreadable" and "line 5 records epoch 1 after epoch 4" in run.problem


def test_a_refused_resume_leaves_the_run_folder_as_it_was(tmp_cwd, argv, capsys):
    run_dir = tmp_cwd / "run"
    assert run_train([*TINY, "trainer.epochs=2", f"hydra.run.dir={run_dir}"]) == 0
    last = run_dir / "checkpoints" / "last.pt"
    good = last.read_bytes()
    last.write_bytes(good[:1000])
    before = {k: v for k, v in _files(run_dir).items() if k not in ("train.log", ".dasuite.lock")}
    assert run_train([f"resume={run_dir}", "trainer.epochs=6"]) == 2
    assert f"cannot resume from {last}" in capsys.readouterr().err
    assert {k: v for k, v in _files(run_dir).items() if k not in ("train.log", ".dasuite.lock")} == before
    last.write_bytes(good)
    assert run_train([f"resume={run_dir}"]) == 0  # the refused trainer.epochs=6 was not kept
    assert read_summary(run_dir)["epochs"] == 2
    assert run_train([f"resume={run_dir}", "trainer.epochs=3"]) == 0  # an extension that goes on is saved
    assert "trainer.epochs=3" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert [r["epoch"] for r in RunFolder(run_dir).read_metrics()] == [1, 2, 3]


def test_a_torn_metrics_line_at_the_checkpoints_epoch_is_written_again(tmp_path, caplog):
    run_dir = tmp_path / "run"
    train_in_process(run_dir, *TINY, "trainer.epochs=3")
    (run_dir / "summary.json").unlink()  # as if killed after the checkpoint, with the line's end never written
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    torn = json.loads(lines[-1])
    (run_dir / "metrics.jsonl").write_text("".join(lines[:-1]) + lines[-1][:40])
    summary = train_in_process(run_dir, *TINY, "trainer.epochs=4", resume=True)
    assert summary["status"] == "completed" and summary["resumed_from_epoch"] == 3
    records = RunFolder(run_dir).read_metrics()
    assert [r["epoch"] for r in records] == [1, 2, 3, 4] and records[2] == torn
    assert "no complete record of epoch 3" in caplog.text and "written again from the checkpoint" in caplog.text


def test_eval_files_its_result_under_the_runs_own_pair_and_keeps_other_results(tmp_cwd, argv):
    run_dir = tmp_cwd / "run"
    pair = ["dataset=moons_adapt", "family=none", "recipe=none", *FAST, "method=source_only", "trainer.epochs=1",
            "trainer.steps_per_epoch=2"]
    assert run_train([*pair, f"hydra.run.dir={run_dir}"]) == 0
    (run_dir / "summary.json").unlink()
    other, _ = evaluate_run(run_dir, dataset="moons", device="cpu")  # another pair's result
    kept = other.read_bytes()
    own, result = evaluate_run(run_dir, device="cpu")
    assert own.name == "moons_adapt_last.json" and result["dataset"] == "moons_adapt"
    assert other.read_bytes() == kept
    assert evaluate_run(run_dir, device="cpu")[0] == own  # the same evaluation again replaces its own file
    own.write_text("my notes\n")
    with pytest.raises(ConfigError, match="holds a file that is not a result of dasuite eval; it is kept"):
        evaluate_run(run_dir, device="cpu")
    assert own.read_text() == "my notes\n"


def test_the_study_resolver_deletes_and_creates_nothing(tmp_path):
    from dasuite.config.sweeps import register_resolver

    register_resolver()
    (tmp_path / "optuna.db").write_bytes(b"a study")
    absent = tmp_path / "absent"
    cfg = OmegaConf.create({"here": f"${{dasuite.study:{tmp_path}}}", "there": f"${{dasuite.study:{absent}}}"})
    assert cfg.here == f"sqlite:///{tmp_path / 'optuna.db'}" and cfg.there == f"sqlite:///{absent / 'optuna.db'}"
    assert _files(tmp_path) == {"optuna.db": b"a study"} and not absent.exists()


def test_a_sweep_into_a_study_optuna_cannot_open_stops_and_keeps_it(tmp_cwd, argv, capsys):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from dasuite.config.sweeps import sqlite_problem

    if sqlite_problem() is None:
        pytest.skip("this optuna opens SQLite studies")
    (tmp_cwd / "sweep").mkdir()
    (tmp_cwd / "sweep" / "optuna.db").write_bytes(b"a study")
    assert run_train(["-m", "hydra/sweeper=dasuite_optuna", "hydra.sweep.dir=sweep", "hydra.sweeper.n_trials=1",
                      "trainer.select=source_acc", *GENERIC, *FAST, "trainer.epochs=1",
                      "trainer.steps_per_epoch=2"]) == 2
    err = capsys.readouterr().err
    assert f"cannot open the Optuna study {tmp_cwd / 'sweep' / 'optuna.db'}" in err and "SQLAlchemy" in err
    assert _files(tmp_cwd / "sweep") == {"optuna.db": b"a study"}


def _one_class_folders(root: Path) -> list[str]:
    from PIL import Image

    for domain in ("src", "tgt"):
        (root / domain / "cat").mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (32, 32), (60 * i, 0, 0)).save(root / domain / "cat" / f"{i}.png")
    return ["dataset=folder", "dataset.source_dir=src", "dataset.target_dir=tgt", "dataset.image_size=32",
            "backbone=lenet", "trainer.epochs=1", "trainer.steps_per_epoch=2"]


def _label_named_target(root: Path) -> list[str]:
    for name in ("src.csv", "tgt.csv"):
        (root / name).write_text("a,b,target\n" + "".join(f"{i % 3}.5,{i}.0,{i % 2}\n" for i in range(20)))
    return ["dataset=arrays", "dataset.source=src.csv", "dataset.target=tgt.csv", "trainer.epochs=1"]


@pytest.mark.parametrize(("make", "says"), [
    (lambda root: [*TINY, "seed=-5"], "seed=-5 is not a valid seed: give an integer from 0 to 4294967295"),
    (_one_class_folders, "dataset.source_dir=src has a single class folder (cat); classification needs two"),
    (_label_named_target, "dataset.source=src.csv has no label column 'label' (dataset.label_column); its columns "
                          "are a, b, target. Name the column that holds the labels, e.g. dataset.label_column=target"),
])
def test_an_unclear_input_gets_one_paragraph_before_a_run_folder_exists(make, says, tmp_cwd, argv, capsys):
    assert run_train([*make(tmp_cwd), *FAST, "hydra.run.dir=run"]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_cwd / "run").exists()
