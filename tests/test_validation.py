"""Bad settings and bad data fail before training with one paragraph naming the key or the data;
random override combinations either train or fail that way, never with a raw traceback."""

import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dasuite.commands.train import run_train
from dasuite.data.pair import Domains, Labeled, split
from dasuite.errors import ConfigError
from tests.conftest import read_summary, train_in_process

TRAINER_KEYS = ("backbone_lr_mult, batch_size, betas, bias_lr_mult, callbacks, channels_last, collapse_min_classes, "
                "collapse_min_entropy, compile, deterministic, device, distributed, epochs, eval_batch_size, eval_every, "
                "grad_clip_norm, lr, lr_alpha, lr_beta, lr_schedule, metrics, momentum, nesterov, optimizer, plots, "
                "precision, progress, select, steps_per_epoch, sync_batchnorm, validation_samples, weight_decay")


@pytest.mark.parametrize(("override", "says"), [
    ("trainer.epoch=3", "unknown key 'trainer.epoch': the trainer settings have no 'epoch'. Did you mean "
                        "trainer.epochs?"),
    ("method.trade_of=1", "Did you mean method.trade_off?"),
    ("sed=1", "the top-level config has no 'sed'. Did you mean seed?"),
])
def test_a_misspelled_key_fails_before_hydra_with_the_valid_keys(override, says, tmp_path, capsys):
    assert run_train([override, f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert says in err and "not in struct" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_key_of_one_swept_method_only_names_the_other_choice(capsys):
    assert run_train(["-m", "method=dann,mmd", "method.gamma=3"]) == 2
    assert "the method settings with method=mmd have no 'gamma'" in capsys.readouterr().err


def test_key_errors_answer_without_importing_torch(tmp_path):
    probe = ("import sys\nfrom dasuite.cli import main\ntry:\n    main(['train', 'trainer.epoch=3'])\n"
             "except SystemExit as stop:\n"
             "    print(stop.code, sorted(m for m in sys.modules if m.startswith('torch')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.stdout.split() == ["2", "[]"], result.stderr


@pytest.mark.parametrize(("override", "says"), [
    ("trainer.lr=abc", f"trainer.lr='abc' is not a valid number. Valid trainer keys "
                       f"(dasuite.engine.trainer.Trainer): {TRAINER_KEYS}."),
    ("trainer.epochs=2.5", "trainer.epochs=2.5 is not a valid integer."),
    ("+trainer.epoch=3", "trainer.epoch is not a trainer setting. Did you mean trainer.epochs?"),
    ("+method.trade_of=1", "method.trade_of is not a method setting. Did you mean method.trade_off? Valid method "
                           "keys (dasuite.methods.dann.DANN): discriminator_bn, discriminator_hidden, "
                           "discriminator_trade_off, domain_reduction, gamma, head_hidden, label_smoothing, "
                           "target_label_weight, trade_off, warmup_steps."),
    ("method.discriminator_hidden=[a]", "method.discriminator_hidden=['a'] is not a valid list of integers."),
    ("dataset.val_fraction=x", "dataset.val_fraction='x' is not a valid number."),
    ("trainer.progress=maybe", "trainer.progress='maybe' is not a valid true/false value."),
    ("trainer.deterministic=1", "trainer.deterministic=1 is not a valid true/false value."),
    ("trainer.plots=yes", "trainer.plots='yes' is not a valid true/false value."),
])
def test_a_wrong_type_or_added_key_fails_before_training(override, says, tmp_path):
    summary = train_in_process(tmp_path, override)
    assert summary["status"] == "failed" and summary["error_type"] == "ConfigError"
    assert says in summary["error"] and "\n" not in summary["error"]
    assert not (tmp_path / "metrics.jsonl").exists()


def test_a_vector_pair_on_an_image_backbone_fails_before_training(tmp_path):
    summary = train_in_process(tmp_path, "backbone=lenet")
    assert summary["status"] == "failed" and "backbone lenet takes images" in summary["error"]
    assert not (tmp_path / "metrics.jsonl").exists()


def test_a_channel_count_the_backbone_cannot_take_is_named():
    from dasuite.models.torchvision_nets import torchvision_backbone

    with pytest.raises(ConfigError, match="backbone resnet18 takes 3-channel images, the pair gives 2; set "
                                          "dataset.channels=3"):
        torchvision_backbone((2, 32, 32), name="resnet18")


def _domains(source_y, target_y, test_y, num_classes=2) -> Domains:
    def part(y):
        return Labeled(torch.zeros(len(y), 2), torch.tensor(y, dtype=torch.int64))

    return Domains(part(source_y), part(target_y), part(test_y), num_classes=num_classes, input_shape=(2,))


@pytest.mark.parametrize(("domains", "says"), [
    (_domains([], [0, 1], [0, 1]), "the source domain of this dataset pair is empty"),
    (_domains([0, 1, 1], [], [0, 1]), "the target domain of this dataset pair is empty"),
    (_domains([0, 1, 7, 1], [0, 1], [0, 1]), r"the source domain has labels outside the pair's 2 classes \(0..1\): "
                                             r"\[7\] in 1 of 4 samples"),
    (_domains([0, 1, 1], [-1, -1], [0, -3]), r"the target test domain has labels outside .*\[-3\]"),
])
def test_bad_data_is_named_before_training(domains, says):
    with pytest.raises(ConfigError, match=says):
        split(domains, val_fraction=0.3, labels_per_class=0, seed=0)


def test_unlabeled_target_samples_are_allowed():
    pair = split(_domains([0, 1, 1, 0], [-1, -1], [0, 1]), val_fraction=0.25, labels_per_class=0, seed=0)
    assert len(pair.target_train) == 2


#: Overrides a user might type, good and bad; each example draws a few with distinct keys.
OVERRIDES = {
    "trainer.epochs": ["1", "2", "2.5", "0", "many"],
    "trainer.lr": ["0.1", "abc", "-1", "1e-4"],
    "trainer.optimizer": ["adam", "rmsprop"],
    "trainer.batch_size": ["16", "0", "[1]"],
    "trainer.epoch": ["3"],
    "method": ["source_only", "mmd", "coral", "nope"],
    "method.trade_off": ["0.5", "-1", "x"],
    "method.trade_of": ["1"],
    "dataset": ["blobs", "moons"],
    "dataset.val_fraction": ["0.2", "1.5"],
    "backbone": ["linear", "lenet"],
    "backbone.hidden": ["[8]", "[]", "3"],
    "seed": ["4", "x"],
    "+trainer.foo": ["1"],
}


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=st.lists(st.sampled_from(sorted(OVERRIDES)), max_size=3, unique=True).flatmap(
    lambda keys: st.tuples(*(st.sampled_from(OVERRIDES[k]).map(lambda v, k=k: f"{k}={v}") for k in keys))))
def test_random_overrides_train_or_fail_with_a_clear_message(overrides, tmp_path_factory, capsys):
    run_dir = tmp_path_factory.mktemp("run")
    epochs = [] if any(o.startswith("trainer.epochs=") for o in overrides) else ["trainer.epochs=1"]
    code = run_train([*overrides, *epochs, "trainer.progress=false", "trainer.plots=false",
                      f"hydra.run.dir={run_dir}"])
    out = capsys.readouterr()
    event(f"exit code {code}")
    assert "Traceback" not in out.out + out.err
    if code == 2:  # an argument error, before any run folder
        assert out.err.startswith("dasuite train: error: ") and len(out.err.strip().splitlines()) == 1
        assert not (run_dir / "summary.json").exists()
        return
    summary = read_summary(run_dir)
    if code == 0:
        assert summary["status"] == "completed" and 0 <= summary["target_acc"] <= 1
    else:
        assert code == 1 and summary["status"] == "failed"
        assert summary["error_type"] in ("ConfigError", "TrainingDiverged"), summary
        assert "Traceback" not in summary["error"] and "\n" not in summary["error"]
        key_or_value = [o.split("=", 1)[0].lstrip("+") for o in overrides] + ["dataset", "backbone", "method"]
        assert any(k.split(".")[-1] in summary["error"] for k in key_or_value), summary["error"]



@pytest.mark.parametrize(("target_y", "says"), [([-1, -1, -1, -1], "has none"),
                                                 ([0, -1, 1, 1], "has 1 of its 4 samples unlabeled")])
def test_target_labels_per_class_needs_a_fully_labeled_target(target_y, says):
    with pytest.raises(ConfigError, match=f"dataset.target_labels_per_class=1 needs labels .* {says}"):
        split(_domains([0, 1, 1, 0], target_y, [0, 1]), val_fraction=0.25, labels_per_class=1, seed=0)
