import json

import pytest
import torch

from dasuite.engine.optim import build_optimizer, build_schedule, scale_lr
from dasuite.engine.plan import MAX_STEPS, check_plan
from dasuite.engine.run_folder import RunFolder
from dasuite.engine.sampler import CyclicBatches
from dasuite.engine.trainer import Trainer
from dasuite.errors import ConfigError
from tests.conftest import read_summary, train_in_process


def test_cyclic_batches_cover_every_item_once_per_pass():
    stream = CyclicBatches(10, 3, torch.Generator().manual_seed(0))
    assert stream.batches_per_pass == 3
    seen = torch.cat([stream.next() for _ in range(3)])
    assert len(seen) == 9 and len(set(seen.tolist())) == 9
    assert len(stream.next()) == 3  # reshuffles instead of a short batch


def test_a_set_smaller_than_a_batch_is_one_batch():
    stream = CyclicBatches(4, 32, torch.Generator().manual_seed(0))
    assert stream.batches_per_pass == 1 and sorted(stream.next().tolist()) == [0, 1, 2, 3]


def test_dann_schedule_anneals_the_learning_rate():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer("sgd", [{"params": [param]}, {"params": [], "lr_mult": 0.1}], 0.01, 0.9, 0.0)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.001])
    sched = build_schedule("dann", opt, total_steps=100, alpha=10.0, beta=0.75)
    for _ in range(100):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 / 11 ** 0.75)


@pytest.mark.parametrize("alpha", [0.001, None])  # None: the inv schedule's own 0.001
def test_inv_schedule_decays_per_step_whatever_the_run_length(alpha):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer("sgd", [{"params": [param]}], 0.01, 0.9, 0.0)
    sched = build_schedule("inv", opt, total_steps=10, alpha=alpha, beta=0.75)
    for _ in range(1000):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * (1 + 0.001 * 1000) ** -0.75)


def test_adamw_is_an_optimizer_choice_with_decoupled_weight_decay(tmp_path):
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = build_optimizer("adamw", [{"params": [weight]}], lr=0.1, momentum=0.9, weight_decay=0.01)
    assert type(optimizer) is torch.optim.AdamW and optimizer.param_groups[0]["weight_decay"] == 0.01
    summary = train_in_process(tmp_path, "trainer.optimizer=adamw", "trainer.lr=0.003", "trainer.epochs=1")
    assert summary["status"] == "completed", summary.get("error")
    (state,) = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)["optimizers"].values()
    assert state["param_groups"][0]["decoupled_weight_decay"] is True  # Adam's is False


def test_backbone_parameters_are_split_off_at_their_multiplier():
    body, head = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    groups = scale_lr([{"params": [body, head], "lr_mult": 0.5}], {id(body)}, 0.1)
    assert [(g["params"], g["lr_mult"]) for g in groups] == [([head], 0.5), ([body], pytest.approx(0.05))]
    assert scale_lr([{"params": [body]}], {id(body)}, 1.0) == [{"params": [body]}]


def test_an_absurd_step_plan_is_refused_with_its_count():
    from dasuite.methods.base import Stage

    with pytest.raises(ConfigError, match=r"plans 4,000,000,000,000 optimisation steps .*adapt: 1,000,000,000,000 "
                                          r"epochs × 4 steps"):
        check_plan([(Stage("adapt"), 10**12, 4)], 32)
    assert check_plan([(Stage("a"), 10, 4), (Stage("b"), 2, 3)], 32) == 46 < MAX_STEPS


def test_steps_per_epoch_sets_the_iterations_of_every_epoch(tmp_path):
    summary = train_in_process(tmp_path, "dataset=blobs", "method=dann", "trainer.epochs=2",
                               "trainer.steps_per_epoch=5", "trainer.batch_size=8")
    assert summary["status"] == "completed" and summary["steps"] == 10
    assert [r["step"] for r in RunFolder(tmp_path).read_metrics()] == [5, 10]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"epochs": 0}, "trainer.epochs=0 must be an integer >= 1"),
    ({"steps_per_epoch": 0}, "trainer.steps_per_epoch=0 must be null"),
    ({"betas": [0.9]}, "must be two numbers in .0, 1., e.g. .0.9, 0.999. .Adam"),
    ({"backbone_lr_mult": -1}, "trainer.backbone_lr_mult=-1 must be >= 0"),
    ({"batch_size": 0}, "trainer.batch_size=0 must be an integer >= 1"),
    ({"lr": 0.0}, "trainer.lr=0.0 must be > 0"),
    ({"optimizer": "rmsprop"}, "trainer.optimizer='rmsprop' is not one of sgd, adam"),
    ({"device": "tpu"}, "trainer.device='tpu' is not one of auto, cpu, cuda"),
])
def test_trainer_rejects_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Trainer(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_asking_for_cuda_without_one_is_a_clear_error():
    with pytest.raises(ConfigError, match="trainer.device=cuda but no CUDA device"):
        Trainer(device="cuda")


def _metrics_without_time(run_dir):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in RunFolder(run_dir).read_metrics()]


def test_same_seed_gives_identical_metrics(tmp_path):
    for name in ("a", "b"):
        train_in_process(tmp_path / name, "trainer.epochs=3", "seed=5")
    a, b = _metrics_without_time(tmp_path / "a"), _metrics_without_time(tmp_path / "b")
    assert a == b and len(a) == 3


def test_different_seeds_give_different_runs(tmp_path):
    train_in_process(tmp_path / "a", "trainer.epochs=2", "seed=0")
    train_in_process(tmp_path / "b", "trainer.epochs=2", "seed=1")
    assert _metrics_without_time(tmp_path / "a") != _metrics_without_time(tmp_path / "b")


def test_an_exception_during_training_leaves_a_failed_summary_and_keeps_earlier_files(tmp_path):
    summary = train_in_process(tmp_path, "method=source_only", "method._target_=tests.helpers.FailsInSecondEpoch",
                               "trainer.epochs=3")
    assert summary["status"] == "failed" and "boom in epoch 2" in summary["error"]
    assert read_summary(tmp_path)["status"] == "failed"
    rows = RunFolder(tmp_path).read_metrics()
    assert [r["epoch"] for r in rows] == [1]  # the finished epoch is kept
    assert (tmp_path / "checkpoints" / "last.pt").exists()


def test_divergence_fails_the_run_with_a_hint(tmp_path):
    summary = train_in_process(tmp_path, "trainer.lr=1e8", "trainer.epochs=2")
    assert summary["status"] == "failed" and summary["error_type"] == "TrainingDiverged"
    assert "Lower trainer.lr or method.trade_off" in summary["error"]


def test_checkpoint_holds_model_optimizer_and_progress(tmp_path):
    train_in_process(tmp_path, "trainer.epochs=2")
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["epoch"] == 2 and state["step"] == 2 * 4
    assert set(state["optimizers"]) == {"main"} and "config" in state
    assert any(k.startswith("domain_loss.discriminator") for k in state["model"])


def test_summary_is_written_atomically(tmp_path, monkeypatch):
    run = RunFolder(tmp_path)
    run.write_summary({"status": "completed"})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError):
        run.write_summary({"status": "failed"})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temp file left behind


def test_trainer_rejects_a_non_numeric_learning_rate():
    with pytest.raises(ConfigError, match="trainer.lr='abc' must be a number"):
        Trainer(lr="abc")


def test_a_resume_past_a_stages_epochs_names_the_key_that_sets_them():
    from dasuite.engine.state import Position
    from dasuite.methods.base import Stage

    plan = [(Stage("source", draws=("source",), epochs=2), 2, 5), (Stage("adapt"), 3, 5)]
    done = {"epoch": 3, "step": 15, "stage": 0, "stage_epoch": 3}  # three source epochs, then source_epochs=2
    with pytest.raises(ConfigError, match=r"method\.source_epochs=2 is fewer than this run has already trained in "
                                          r"its 'source' stage \(3 epochs; 3 in all\)"):
        Position.of(done, plan)
    done = {"epoch": 6, "step": 30, "stage": 1, "stage_epoch": 4}
    with pytest.raises(ConfigError, match=r"trainer\.epochs=3 is fewer than .* 'adapt' stage \(4 epochs; 6 in all"):
        Position.of(done, plan)
    assert Position.of({**done, "stage_epoch": 3}, plan).stage_epoch == 3
