"""Objects first: ``dasuite.fit`` trains a method and pair built in Python; ``dasuite.train`` leaves the process as
it found it; ``init_from`` starts a run from another run's backbone and head."""

import json
import logging
import os
import sys

import pytest
import torch

from dasuite import fit, seed_everything
from dasuite.assembly.init_from import init_weights
from dasuite.data.pair import pair_from_tensors
from dasuite.engine.callbacks.defaults import default_callbacks
from dasuite.engine.trainer import Trainer
from dasuite.errors import ConfigError
from dasuite.methods.base import Method
from dasuite.methods.source_only import SourceOnly
from dasuite.models.backbones import MLP
from tests.conftest import train_in_process


def _pair(classes: int = 2, dims: int = 2):
    g = torch.Generator().manual_seed(0)
    xs, xt = torch.randn(120, dims, generator=g), torch.randn(120, dims, generator=g) + 0.5
    label = lambda x: (x[:, 0] > 0).long() + (classes > 2) * (x[:, 1] > 0).long()  # noqa: E731
    return pair_from_tensors(source=(xs, label(xs)), target=xt[:80], target_test=(xt[80:], label(xt[80:])),
                             class_names=[f"c{i}" for i in range(classes)])


def _trainer():
    return Trainer(epochs=2, batch_size=16, callbacks=default_callbacks(plots=False, progress=False))


class Broken(Method):
    def training_step(self, batch, ctx):
        raise RuntimeError("this method is broken")


def test_a_failing_method_leaves_a_failed_summary_and_raises(tmp_path):
    seed_everything(0)
    with pytest.raises(RuntimeError, match="this method is broken"):
        fit(Broken(MLP((2,), hidden=[8]), 2), _pair(), _trainer(), run_dir=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["error"] == "this method is broken"
    assert summary["method"] == "Broken"


def test_a_fit_run_read_back_by_load_run_says_how_to_load_its_weights(tmp_path):
    from dasuite import load_run

    seed_everything(0)
    method = SourceOnly(MLP((2,), hidden=[8]), 2)
    fit(method, _pair(), _trainer(), run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match=r"trained by dasuite.fit on a model built in Python.*load_state_dict"):
        load_run(tmp_path / "run")
    weights = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["model"]
    again = SourceOnly(MLP((2,), hidden=[8]), 2)
    again.load_state_dict(weights)
    assert torch.equal(again.head.weight, method.head.weight)


def test_fit_takes_only_a_new_or_empty_folder(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine\n")
    with pytest.raises(ConfigError, match=r"run_dir=.*holds files that are not a run's \(notes.txt\)"):
        fit(SourceOnly(MLP((2,), hidden=[8]), 2), _pair(), _trainer(), run_dir=tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["notes.txt"]


def test_the_summary_records_the_adaptation_weight_the_method_declares(tmp_path):
    from dasuite.methods.dann import DANN

    run = fit(DANN(MLP((2,), hidden=[8]), 2, trade_off=0.3), _pair(), _trainer(), run_dir=tmp_path / "dann")
    assert run.summary["trade_off"] == 0.3
    run = fit(SourceOnly(MLP((2,), hidden=[8]), 2), _pair(), _trainer(), run_dir=tmp_path / "source_only")
    assert run.summary["trade_off"] is None


def test_fit_seeds_its_batches_so_two_fits_agree(tmp_path):
    results = []
    for name in ("a", "b"):
        seed_everything(3)
        run = fit(SourceOnly(MLP((2,), hidden=[8]), 2), _pair(), _trainer(), run_dir=tmp_path / name, seed=5)
        results.append(run.method.head.weight.detach().clone())
    assert torch.equal(results[0], results[1])


def test_train_leaves_argv_environment_and_logging_as_it_found_them(tmp_cwd):
    from dasuite import train

    argv, environ = list(sys.argv), dict(os.environ)
    root, ours = logging.getLogger(), logging.getLogger("dasuite")
    handlers, levels = (list(root.handlers), list(ours.handlers)), (root.level, ours.level)
    run = train(["dataset=moons", "family=none", "recipe=none", "trainer.epochs=1", "trainer.plots=false",
                 "trainer.progress=false"], run_dir="runs/api")
    assert sys.argv == argv and dict(os.environ) == environ
    assert (list(root.handlers), list(ours.handlers)) == handlers and (root.level, ours.level) == levels
    assert "moons" in (run.folder / "train.log").read_text()  # the run's own log, as the command writes it
    assert (run.folder / ".hydra" / "overrides.yaml").is_file()  # what resume reads


def test_init_from_loads_backbone_and_head_and_nothing_else(tmp_path):
    source = train_in_process(tmp_path / "source", "method=source_only", "trainer.epochs=1")
    seed_everything(1)
    from dasuite.methods.dann import DANN

    method = DANN(MLP((2,), hidden=[64, 64]), 2)
    discriminator = {k: v.clone() for k, v in method.state_dict().items() if k.startswith("domain")}
    record = init_weights(method, tmp_path / "source", "last", ["upper", "lower"])
    saved = torch.load(tmp_path / "source" / "checkpoints" / "last.pt", weights_only=True)["model"]
    for key, value in method.state_dict().items():
        if key.startswith(("backbone.", "head.")):
            assert torch.equal(value, saved[key]), key
    assert all(torch.equal(method.state_dict()[k], v) for k, v in discriminator.items()) and discriminator
    assert record["epoch"] == source["epochs"] and record["checkpoint"] == "last"


def test_a_run_started_from_another_records_it(tmp_path):
    train_in_process(tmp_path / "source", "method=source_only", "trainer.epochs=1")
    summary = train_in_process(tmp_path / "adapt", "method=dann", "trainer.epochs=1",
                               f"init_from={tmp_path / 'source'}", "init_checkpoint=best")
    assert summary["status"] == "completed"
    assert summary["init_from"]["run_dir"] == str((tmp_path / "source").resolve())
    assert summary["init_from"]["checkpoint"] == "best"


@pytest.mark.parametrize("method, classes, checkpoint, problem", [
    (lambda: SourceOnly(MLP((2,), hidden=[64, 64]), 3), ["a", "b", "c"], "last", "that run classifies 2 classes"),
    (lambda: SourceOnly(MLP((2,), hidden=[32]), 2), ["upper", "lower"], "last", "do not fit this run's model"),
    (lambda: SourceOnly(MLP((2,), hidden=[64, 64]), 2), ["upper", "lower"], "first", "init_checkpoint='first' is not one"),
])
def test_init_from_a_run_that_does_not_fit_is_one_paragraph(tmp_path, method, classes, checkpoint, problem):
    train_in_process(tmp_path / "source", "method=source_only", "trainer.epochs=1")
    with pytest.raises(ConfigError, match=problem) as error:
        init_weights(method(), tmp_path / "source", checkpoint, classes)
    assert "\n" not in str(error.value)


def test_train_with_a_bad_value_raises_and_leaves_no_folder(tmp_cwd):
    from dasuite import train

    with pytest.raises(ConfigError, match=r"trainer.lr=-1.0 must be > 0"):
        train(["dataset=moons", "family=none", "recipe=none", "trainer.lr=-1", "trainer.epochs=1"], run_dir="runs/x")
    assert list(tmp_cwd.iterdir()) == []


def test_shot_adapts_from_a_trained_source_run_without_its_source_stage(tmp_path):
    """A SHOT source stage trained once starts SHOT's target stage in another run (method.source_epochs=0)."""
    shot = ["method=shot", "method.bottleneck_dim=16", "trainer.epochs=1"]
    train_in_process(tmp_path / "source", *shot)
    summary = train_in_process(tmp_path / "adapt", *shot, "method.source_epochs=0", f"init_from={tmp_path / 'source'}")
    assert summary["status"] == "completed" and summary["epochs"] == 1  # the adaptation stage only
    assert [r["stage"] for r in json.loads("[" + ",".join((tmp_path / "adapt" / "metrics.jsonl").read_text()
                                                            .split("\n")[:-1]) + "]")] == ["adapt"]
    from dasuite.methods.shot import SHOT

    assert SHOT.predicting == ("backbone", "bottleneck", "head")


def test_fit_from_a_run_that_does_not_fit_leaves_no_folder(tmp_path):
    train_in_process(tmp_path / "source", "method=source_only", "trainer.epochs=1")
    with pytest.raises(ConfigError, match="a head trained on other classes cannot start this run"):
        fit(SourceOnly(MLP((2,), hidden=[8]), 2), _pair(), _trainer(), run_dir=tmp_path / "new",
            init_from=tmp_path / "source")
    assert not (tmp_path / "new").exists()


def test_a_method_may_give_its_parameters_as_a_generator(tmp_path):
    """``{"params": self.parameters()}``, the torch idiom: the optimizer still gets every parameter."""
    class Generated(SourceOnly):
        def param_groups(self, stage):
            return {"main": [{"params": self.parameters()}]}

    seed_everything(0)
    method = Generated(MLP((2,), hidden=[8]), 2)
    start = method.head.weight.detach().clone()
    fit(method, _pair(), _trainer(), run_dir=tmp_path / "run")
    assert not torch.equal(method.head.weight.detach(), start)


def test_a_resumed_run_keeps_the_run_it_started_from(tmp_path):
    import shutil

    train_in_process(tmp_path / "source", "method=source_only", "trainer.epochs=1")
    first = train_in_process(tmp_path / "run", "method=dann", "trainer.epochs=2", f"init_from={tmp_path / 'source'}")
    shutil.copy(tmp_path / "run" / "summary.json", tmp_path / "first.json")
    (tmp_path / "run" / "summary.json").unlink()  # as a run killed before its end leaves it
    resumed = train_in_process(tmp_path / "run", "method=dann", "trainer.epochs=3", f"init_from={tmp_path / 'source'}",
                               resume=True)
    assert resumed["status"] == "completed" and resumed["init_from"] == first["init_from"]
