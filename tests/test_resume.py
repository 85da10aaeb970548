"""Resume: a run killed (SIGKILL) or stopped (SIGTERM) mid-epoch, resumed, ends with the numbers of a
run never stopped; sweeps skip finished jobs; checkpoints that cannot serve say why."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dasuite
from dasuite.commands.train import run_train
from dasuite.engine.run_folder import RunFolder
from tests import fake_data
from tests.conftest import GENERIC, read_summary, train_in_process

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 6  # moons: 4 steps per epoch
PAUSE_AT = 13  # the second step of epoch 4
EVAL_EVERY = 2  # metrics.jsonl lines and checkpoints at epochs 2, 4, 6
PAUSING = ["method._target_=tests.helpers.PausesMidEpoch", f"+method.pause_at_step={PAUSE_AT}",
           f"trainer.epochs={EPOCHS}", f"trainer.eval_every={EVAL_EVERY}", "trainer.deterministic=true", "seed=3"]


def _values(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in RunFolder(run_dir).read_metrics()]


def _dasuite(*args: str) -> list[str]:
    flags = [a for a in args if a == "-m"]  # Hydra's flags come before the overrides
    return [sys.executable, "-m", "dasuite", "train", *flags, *GENERIC, *(a for a in args if a != "-m"),
            "trainer.progress=false", "trainer.plots=false"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "HYDRA_FULL_ERROR": "0"}


def _start_and_pause(args: list[str], marker: Path, cwd: Path) -> subprocess.Popen:
    """Start ``dasuite train`` and wait until the pausing method reached its step."""
    process = subprocess.Popen(_dasuite(*args, f"+method.marker={marker}"), cwd=cwd, env=_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
    return process


def _resume(folder: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    """``dasuite train resume=folder`` of a run of the pausing method, whose module the command trusts."""
    return subprocess.run([sys.executable, "-m", "dasuite", "train", f"resume={folder}",
                           "trusted_modules=[tests.helpers]", *extra], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[dict]:
    """The metrics of the same run, never stopped."""
    folder = tmp_path_factory.mktemp("reference")
    marker = folder / "marker"
    marker.touch()  # no pause
    summary = train_in_process(folder / "run", *PAUSING, f"+method.marker={marker}")
    assert summary["status"] == "completed"
    return _values(folder / "run")


def test_a_run_killed_mid_epoch_resumes_to_the_same_final_metrics(reference, tmp_path):
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    process = _start_and_pause([*PAUSING, f"hydra.run.dir={run_dir}"], marker, tmp_path)
    process.kill()  # SIGKILL in the middle of epoch 4
    process.communicate()
    # the checkpoint of the last evaluated epoch: 2, not 3 (saved with each metrics.jsonl line)
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)["epoch"] == 2
    assert [row["epoch"] for row in _values(run_dir)] == [2]
    assert not (run_dir / "summary.json").exists()

    result = _resume(run_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_summary(run_dir)["status"] == "completed" and read_summary(run_dir)["resumed_from_epoch"] == 2
    assert [row["epoch"] for row in reference] == [2, 4, 6]
    assert _values(run_dir) == reference  # bitwise: every evaluated epoch once, same numbers
    assert "resuming from" in (run_dir / "train.log").read_text()


def test_sigterm_saves_a_mid_epoch_checkpoint_and_resumes_exactly(reference, tmp_path):
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    process = _start_and_pause([*PAUSING, f"hydra.run.dir={run_dir}"], marker, tmp_path)
    process.send_signal(signal.SIGTERM)
    (tmp_path / "marker.go").touch()  # let the step finish; the trainer stops after it
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    summary = read_summary(run_dir)
    assert summary["status"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert summary["resume"] == f"dasuite train resume={run_dir}"
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)
    assert state["step"] == PAUSE_AT + 1 and state["epoch"] == 3 and state["partial"]["epoch_step"] == 2

    result = _resume(run_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert _values(run_dir) == reference


def test_a_resumed_sweep_skips_finished_jobs_and_finishes_the_killed_one(tmp_path):
    sweep, marker = tmp_path / "sweep", tmp_path / "marker"
    args = ["-m", "method._target_=tests.helpers.PausesMidEpoch", "+method.pause_at_step=1000,5",
            f"trainer.epochs={EPOCHS}", f"hydra.sweep.dir={sweep}"]
    process = _start_and_pause(args, marker, tmp_path)  # job 1 pauses, job 0 never does
    process.kill()
    process.communicate()
    finished = (sweep / "0" / "summary.json").read_bytes()
    assert json.loads(finished)["status"] == "completed" and not (sweep / "1" / "summary.json").exists()

    result = _resume(sweep, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "already completed" in result.stdout
    assert (sweep / "0" / "summary.json").read_bytes() == finished  # left as it was
    assert read_summary(sweep / "1")["status"] == "completed"
    assert [r["epoch"] for r in RunFolder(sweep / "1").read_metrics()] == list(range(1, EPOCHS + 1))


def test_a_signal_mid_epoch_of_a_second_stage_resumes_exactly(tmp_path):
    """SHOT's adaptation stage: the second stage's optimizers come back, and the checkpoint carries the
    epoch's pseudo-labels (SHOT's extra state), which a mid-epoch resume uses instead of recomputing them."""
    args = ["method=shot", "method._target_=tests.helpers.SHOTSignalsItself", "+method.signal_at_step=17",
            "trainer.epochs=3", "trainer.deterministic=true"]  # 4 source epochs of 4 steps, then adaptation
    state = _stopped_by_its_method(tmp_path, args)
    assert (state["stage"], state["partial"]["epoch_step"]) == (1, 2) and \
        state["model"]["_extra_state"]["pseudo_labels"] is not None
    assert read_summary(tmp_path / "run")["status"] == "interrupted"
    _resume_and_compare(tmp_path, args)


def test_mmd_stopped_mid_epoch_resumes_exactly(tmp_path):
    """MMD as TLL runs it: dropout in the bottleneck and a source and a target pass per step."""
    args = ["method=mmd", "method._target_=tests.helpers.MMDSignalsItself", "+method.signal_at_step=9",
            "backbone.bottleneck_dim=8", "trainer.epochs=4", "trainer.deterministic=true"]  # 4 steps per epoch
    state = _stopped_by_its_method(tmp_path, args)
    assert state["partial"]["epoch_step"] == 2  # stopped mid-epoch, in a model whose bottleneck has no BatchNorm:
    assert "backbone.bottleneck.0.weight" in state["model"] and "backbone.bottleneck.1.running_mean" not in state["model"]
    _resume_and_compare(tmp_path, args)


def test_values_a_method_logs_resume_exactly_mid_epoch(tmp_path):
    """The epoch's sums of ``ctx.log`` values are checkpointed with the loss sums: a run stopped mid-epoch ends
    with the logged means of one never stopped."""
    args = ["method=dann", "method._target_=tests.helpers.LogsItsInputsSignalsItself", "+method.signal_at_step=9",
            "trainer.epochs=4", "trainer.deterministic=true"]  # 4 steps per epoch: stopped in epoch 3
    state = _stopped_by_its_method(tmp_path, args)
    assert state["partial"]["epoch_step"] == 2 and {"source_mean", "head_norm"} <= set(state["partial"]["sums"])
    _resume_and_compare(tmp_path, args)
    assert {"train/source_mean", "train/head_norm"} <= set(_values(tmp_path / "run")[-1])


def test_ssrt_stopped_with_a_restore_pending_resumes_exactly(tmp_path):
    """SSRT's safe training is a callback: the weights it saved and the restore it decided at the end of step 5
    (intervals of 2 steps) ride in the mid-epoch checkpoint, and the resumed run restores them at step 6."""
    from tests.test_cdtrans import _small_vit_overrides

    for split in ("train", "test"):
        fake_data.write_usps(tmp_path / "data", split)
    fake_data.write_mnist(tmp_path / "data", "train")
    args = [*_small_vit_overrides(tmp_path), "method=ssrt", "method._target_=tests.helpers.SSRTSignalsItself",
            "+method.signal_at_step=5", "method.refine_layers=[0,1]", "method.safe_interval=2", "trainer.epochs=3",
            "trainer.steps_per_epoch=4", "trainer.deterministic=true"]
    state = _stopped_by_its_method(tmp_path, args)
    saved = state["callbacks"]["ssrt_safe_training"]
    assert state["partial"]["epoch_step"] == 2 and saved["restore"] and saved["snapshot"] is not None
    assert state["model"]["_extra_state"]["watch"]["last_restore"] == 4  # restores at steps 2 and 4 before it
    _resume_and_compare(tmp_path, args)


def _stopped_by_its_method(tmp_path, args) -> dict:
    """Train a reference run whole, then the same run stopped by its method's signal; the stopped run's last.pt."""
    (tmp_path / "marker").touch()
    train_in_process(tmp_path / "reference", *args, f"+method.marker={tmp_path / 'marker'}")
    with pytest.raises(KeyboardInterrupt):
        train_in_process(tmp_path / "run", *args, f"+method.marker={tmp_path / 'run_marker'}")
    return torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=False)


def _resume_and_compare(tmp_path, args) -> None:
    """Resume the stopped run: its metrics must equal the reference's."""
    train_in_process(tmp_path / "run", *args, f"+method.marker={tmp_path / 'run_marker'}", resume=True,
                     trusted_modules=("tests.helpers",))
    assert _values(tmp_path / "run") == _values(tmp_path / "reference")


EXTEND = ["method=source_only", "trainer.lr_schedule=constant", "seed=1"]


def test_resume_drops_metrics_past_the_checkpoint_and_extends_epochs(tmp_path):
    train_in_process(tmp_path / "straight", *EXTEND, "trainer.epochs=5")
    run_dir = tmp_path / "run"
    train_in_process(run_dir, *EXTEND, "trainer.epochs=3")
    (run_dir / "summary.json").unlink()  # killed after appending epoch 4's line, before its checkpoint
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps({**RunFolder(run_dir).read_metrics()[-1], "epoch": 4}) + '\n{"epoch": 5, "st')
    summary = train_in_process(run_dir, *EXTEND, "trainer.epochs=5", resume=True)
    assert summary["status"] == "completed" and summary["epochs"] == 5
    assert _values(run_dir) == _values(tmp_path / "straight")  # constant lr: extending is exact


def test_a_completed_run_is_skipped_unless_extended(tmp_path):
    train_in_process(tmp_path, *EXTEND, "trainer.epochs=2")
    before = (tmp_path / "summary.json").read_bytes()
    summary = train_in_process(tmp_path, *EXTEND, "trainer.epochs=2", resume=True)
    assert (tmp_path / "summary.json").read_bytes() == before and summary["epochs"] == 2


def test_an_extension_that_failed_is_resumed_not_skipped(tmp_path):
    """A completed run extended, then stopped part-way: its summary still says "completed" (a finished
    run keeps its summary), but last.pt is further on; resuming the extension must go on, not skip."""
    run_dir, fixed = tmp_path / "run", tmp_path / "fixed"
    failing = ["method._target_=tests.helpers.FailsInEpoch", "+method.fail_epoch=3", f"+method.unless={fixed}"]
    train_in_process(run_dir, *EXTEND, *failing, "trainer.epochs=2")
    assert train_in_process(run_dir, *EXTEND, *failing, "trainer.epochs=5", resume=True,
                               trusted_modules=("tests.helpers",))["status"] == "failed"
    assert read_summary(run_dir)["status"] == "completed" and len(RunFolder(run_dir).read_metrics()) == 3
    fixed.touch()
    summary = train_in_process(run_dir, *EXTEND, *failing, "trainer.epochs=5", resume=True,
                               trusted_modules=("tests.helpers",))
    assert summary["status"] == "completed" and summary["epochs"] == 5 and summary["resumed_from_epoch"] == 3
    assert [r["epoch"] for r in RunFolder(run_dir).read_metrics()] == [1, 2, 3, 4, 5]


def test_a_completed_run_without_its_checkpoint_is_skipped_not_restarted(tmp_path):
    train_in_process(tmp_path, *EXTEND, "trainer.epochs=2")
    (tmp_path / "checkpoints" / "last.pt").unlink()
    metrics = (tmp_path / "metrics.jsonl").read_bytes()
    summary = train_in_process(tmp_path, *EXTEND, "trainer.epochs=2", resume=True)
    assert summary["status"] == "completed" and (tmp_path / "metrics.jsonl").read_bytes() == metrics


def test_ctrl_c_before_an_extension_trains_keeps_the_completed_summary(tmp_path, monkeypatch):
    import dasuite.commands.train

    train_in_process(tmp_path, *EXTEND, "trainer.epochs=2")
    before = (tmp_path / "summary.json").read_bytes()

    def ctrl_c(*args):
        raise KeyboardInterrupt  # e.g. while the data loads, before the trainer's handlers are installed

    monkeypatch.setattr(dasuite.commands.train, "_prepare_resume", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train_in_process(tmp_path, *EXTEND, "trainer.epochs=4", resume=True)
    assert (tmp_path / "summary.json").read_bytes() == before


@pytest.mark.parametrize(("args", "says"), [
    (["trainer.lr=0.1"], "'trainer.lr=0.1' cannot be given with it; only trainer.epochs"),
    (["-m"], "a sweep folder is resumed as a sweep by itself"),
])
def test_resume_rejects_overrides_that_change_the_experiment(args, says, tmp_path, capsys):
    train_in_process(tmp_path, *EXTEND, "trainer.epochs=1")
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- trainer.epochs=1\n")
    assert run_train([f"resume={tmp_path}", *args]) == 2
    assert says in capsys.readouterr().err


def test_resume_of_a_folder_that_is_no_run_says_so(tmp_path, capsys):
    assert run_train([f"resume={tmp_path}"]) == 2
    assert f"resume={tmp_path} is not a run folder of `dasuite train`" in capsys.readouterr().err


@pytest.fixture
def interrupted_run(tmp_path) -> Path:
    """A 2-epoch run folder that looks killed: no summary yet."""
    train_in_process(tmp_path / "run", *EXTEND, "trainer.epochs=2")
    (tmp_path / "run" / "summary.json").unlink()
    return tmp_path / "run"


def test_a_truncated_checkpoint_names_the_file(interrupted_run):
    path = interrupted_run / "checkpoints" / "last.pt"
    path.write_bytes(path.read_bytes()[:1000])
    summary = train_in_process(interrupted_run, *EXTEND, "trainer.epochs=3", resume=True)
    assert summary["status"] == "failed"
    assert f"cannot resume from {path}: the file cannot be read" in summary["error"]
    assert "truncated" in summary["error"]
    assert len(RunFolder(interrupted_run).read_metrics()) == 2  # nothing lost


def test_a_checkpoint_of_another_architecture_names_the_mismatch(interrupted_run, tmp_path):
    other = tmp_path / "other"
    train_in_process(other, *EXTEND, "trainer.epochs=1", "backbone.hidden=[8]")
    shutil.copy(other / "checkpoints" / "last.pt", interrupted_run / "checkpoints" / "last.pt")
    summary = train_in_process(interrupted_run, *EXTEND, "trainer.epochs=3", resume=True)
    assert summary["status"] == "failed"
    assert "the run's config differs from the one it was trained with in backbone.hidden" in summary["error"]


def test_weights_that_do_not_fit_the_model_are_named(interrupted_run):
    path = interrupted_run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=False)
    state["model"]["head.weight"] = torch.zeros(5, 64)
    del state["model"]["head.bias"]
    torch.save(state, path)
    summary = train_in_process(interrupted_run, *EXTEND, "trainer.epochs=3", resume=True)
    assert summary["status"] == "failed"
    assert f"cannot resume from {path}: its weights do not fit" in summary["error"]
    assert "missing in the checkpoint: head.bias" in summary["error"]
    assert "head.weight (5, 64) (model: (2, 64))" in summary["error"]
    assert f"or dasuite {dasuite.__version__} wrote it with defaults" in summary["error"]  # the version that wrote it


def test_a_checkpoint_of_another_method_is_refused(interrupted_run, tmp_path):
    other = tmp_path / "other"
    train_in_process(other, "method=dann", "trainer.epochs=1")
    shutil.copy(other / "checkpoints" / "last.pt", interrupted_run / "checkpoints" / "last.pt")
    summary = train_in_process(interrupted_run, *EXTEND, "trainer.epochs=3", resume=True)
    assert summary["status"] == "failed"
    assert "it holds a model trained with method 'dann', but this run's config says method='source_only'" \
        in summary["error"]


class _OnDisk(torch.utils.data.Dataset):
    """A set the stream treats like images on disk: read through DataLoader workers, which prefetch."""

    workers = 1

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor(int(i))


@pytest.mark.parametrize("parts", [lambda: (torch.arange(10),), lambda: (_OnDisk(10),)], ids=["memory", "workers"])
def test_a_restored_stream_continues_with_the_next_batch(parts):
    from dasuite.engine.sampler import BatchStream

    def stream():
        return BatchStream(parts(), 3, torch.Generator().manual_seed(0), torch.device("cpu"))

    first = stream()
    for _ in range(4):  # past a reshuffle (3 batches per pass)
        first.next()
    state = first.state_dict()
    expected = [first.next()[0].tolist() for _ in range(5)]
    second = stream()
    second.load_state_dict(state)
    assert [second.next()[0].tolist() for _ in range(5)] == expected


def test_a_stream_read_by_workers_leaves_the_global_random_state_alone():
    """Starting the DataLoader must not draw from torch's global generator: a resumed run starts it at
    another point of training than a run never stopped, and its dropout would follow other numbers."""
    from dasuite.engine.sampler import BatchStream

    stream = BatchStream((_OnDisk(10),), 3, torch.Generator().manual_seed(0), torch.device("cpu"))
    before = torch.get_rng_state()
    stream.next()
    assert torch.equal(torch.get_rng_state(), before)
