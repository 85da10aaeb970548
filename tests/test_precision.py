"""trainer.precision, trainer.compile and trainer.channels_last: what runs, what falls back, what is refused."""

from __future__ import annotations

import logging

import pytest
import torch

from dasuite.engine.checkpoint import load_model
from dasuite.engine.compile import compiler_missing
from dasuite.engine.placement import use_channels_last
from dasuite.engine.run_folder import RunFolder
from dasuite.engine.trainer import Trainer
from dasuite.errors import ConfigError
from dasuite.methods.source_only import SourceOnly
from dasuite.models.backbones import MLP
from dasuite.assembly.method import build_method
from tests import fake_data
from tests.conftest import GENERIC, compose_config, train_in_process


def _losses(run_dir):
    return [row["train/loss"] for row in RunFolder(run_dir).read_metrics()]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"precision": "fp8"}, "trainer.precision='fp8' is not a supported precision; valid choices: 32, bf16, 16-mixed"),
    ({"precision": 16}, "trainer.precision=16 is not a supported precision"),
    ({"compile": "yes"}, "trainer.compile='yes' must be true or false"),
    ({"channels_last": "maybe"}, "trainer.channels_last='maybe' is not one of auto, true, false"),
    ({"sync_batchnorm": 1}, "trainer.sync_batchnorm=1 must be true or false"),
])
def test_bad_speed_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Trainer(**kwargs)


def test_bf16_on_the_cpu_trains_in_bfloat16_and_records_it(tmp_path):
    summary = train_in_process(tmp_path / "bf16", "trainer.epochs=3", "trainer.precision=bf16", "trainer.device=cpu")
    assert summary["status"] == "completed" and summary["precision"] == "bf16"
    reference = train_in_process(tmp_path / "fp32", "trainer.epochs=3", "trainer.device=cpu")
    assert reference["precision"] == "32"
    bf16, fp32 = _losses(tmp_path / "bf16"), _losses(tmp_path / "fp32")
    assert bf16 != fp32  # autocast changed the arithmetic ...
    assert bf16 == pytest.approx(fp32, abs=0.05)  # ... within bfloat16's rounding


def test_16_mixed_on_the_cpu_warns_once_and_trains_in_float32(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="dasuite.engine.precision"):
        summary = train_in_process(tmp_path / "fp16", "trainer.epochs=2", "trainer.precision=16-mixed",
                                   "trainer.device=cpu")
    warnings = [r for r in caplog.records if "16-mixed needs a CUDA device" in r.getMessage()]
    assert len(warnings) == 1 and summary["status"] == "completed" and summary["precision"] == "32"
    train_in_process(tmp_path / "fp32", "trainer.epochs=2", "trainer.device=cpu")
    assert _losses(tmp_path / "fp16") == _losses(tmp_path / "fp32")


def test_channels_last_is_on_for_convolutional_models_only():
    lenet = SourceOnly(build_method(compose_config(*GENERIC, "backbone=lenet"), (1, 28, 28), 10).backbone, 10)
    mlp = SourceOnly(MLP((2,)), 2)
    assert use_channels_last("auto", lenet) and not use_channels_last("auto", mlp)
    assert use_channels_last(True, lenet) and not use_channels_last(False, lenet)


def test_channels_last_without_convolutions_warns_and_is_off(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="dasuite.engine.placement"):
        summary = train_in_process(tmp_path, "trainer.epochs=1", "trainer.channels_last=true")
    assert summary["channels_last"] is False
    assert sum("has no 2-D convolution" in r.getMessage() for r in caplog.records) == 1


def test_channels_last_lenet_on_digits_matches_the_default_layout(tmp_path):
    root = tmp_path / "data"
    fake_data.write_mnist(root, "train", n=60)
    fake_data.write_usps(root, "train", n=40)
    fake_data.write_usps(root, "test", n=40)
    common = ["dataset=mnist_usps", f"data_root={root}", "trainer.epochs=1", "trainer.batch_size=8",
              "trainer.device=cpu", "method=source_only"]
    nhwc = train_in_process(tmp_path / "nhwc", *common)  # auto: channels-last for a convolutional model
    nchw = train_in_process(tmp_path / "nchw", *common, "trainer.channels_last=false")
    assert nhwc["channels_last"] is True and nchw["channels_last"] is False
    assert _losses(tmp_path / "nhwc") == pytest.approx(_losses(tmp_path / "nchw"), rel=1e-4)


@pytest.mark.skipif(compiler_missing(torch.device("cpu")) is not None,
                    reason=f"torch.compile cannot run here: {compiler_missing(torch.device('cpu'))}")
def test_compiled_training_matches_eager_and_its_checkpoint_loads_into_an_eager_model(tmp_path):
    """The moons MLP (compiling LeNet takes ~40 s on 2 cores); tolerance: float rounding of fused kernels."""
    compiled = train_in_process(tmp_path / "compiled", "trainer.epochs=3", "trainer.compile=true",
                                "trainer.device=cpu")
    assert compiled["status"] == "completed", compiled.get("error")
    assert compiled["compiled"] is True
    eager = train_in_process(tmp_path / "eager", "trainer.epochs=3", "trainer.device=cpu")
    assert _losses(tmp_path / "compiled") == pytest.approx(_losses(tmp_path / "eager"), abs=1e-4)
    assert compiled["target_acc"] == pytest.approx(eager["target_acc"], abs=0.01)
    state = torch.load(tmp_path / "compiled" / "checkpoints" / "last.pt", weights_only=False)
    assert not [k for k in state["model"] if "_orig_mod" in k]
    cfg = compose_config(*GENERIC, "trainer.epochs=3")
    method = build_method(cfg, (2,), 2)
    load_model(method, state, tmp_path / "compiled" / "checkpoints" / "last.pt")  # an eager model
    eager_state = torch.load(tmp_path / "eager" / "checkpoints" / "last.pt", weights_only=False)["model"]
    for key, value in method.state_dict().items():
        torch.testing.assert_close(value, eager_state[key], atol=1e-4, rtol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="16-mixed (float16 with loss scaling) needs CUDA")
def test_16_mixed_resumes_with_the_loss_scale_of_the_uninterrupted_run(tmp_path):
    common = ["trainer.precision=16-mixed", "trainer.device=cuda", "trainer.deterministic=true", "method=source_only"]
    train_in_process(tmp_path / "straight", "trainer.epochs=4", *common)
    train_in_process(tmp_path / "resumed", "trainer.epochs=2", *common)
    state = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=False)
    assert state["scaler"]["scale"] > 0
    train_in_process(tmp_path / "resumed", "trainer.epochs=4", *common, resume=True)
    straight, resumed = RunFolder(tmp_path / "straight").read_metrics(), RunFolder(tmp_path / "resumed").read_metrics()
    assert [r["train/loss"] for r in straight] == [r["train/loss"] for r in resumed]
