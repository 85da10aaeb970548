"""``dasuite export``: a model file that runs without dasuite and gives the checkpoint's logits."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from dasuite.commands.export import export
from dasuite.errors import ConfigError
from tests import fake_data
from tests.conftest import train_in_process
from tests.test_predict import checkpoint_model

#: Runs in a fresh interpreter: plain torch, no dasuite (checked), prints each model file's logits.
LOAD_WITHOUT_DASUITE = """
import json, sys
import numpy as np, torch
x = torch.from_numpy(np.load(sys.argv[1])).float()
logits = []
for path in sys.argv[2:]:
    model = torch.export.load(path).module() if path.endswith(".pt2") else torch.jit.load(path)
    logits.append(model(x).tolist())
assert not any(name == "dasuite" or name.startswith("dasuite.") for name in sys.modules)
print(json.dumps(logits))
"""


def logits_without_dasuite(model_file, inputs_file, *more_files) -> torch.Tensor:
    """The logits of ``model_file`` (a tensor), or of it and ``more_files`` (stacked), computed without dasuite."""
    result = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_DASUITE, str(inputs_file), str(model_file),
                             *map(str, more_files)], capture_output=True, text=True, timeout=300,
                            cwd=inputs_file.parent)
    assert result.returncode == 0, result.stderr
    logits = torch.tensor(json.loads(result.stdout))
    return logits if more_files else logits[0]


@pytest.fixture(scope="module")
def vector_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("export") / "run"
    assert train_in_process(run_dir, "trainer.epochs=3", "method=cdan")["status"] == "completed"
    return run_dir


def test_the_default_export_is_an_exported_program_and_torchscript_remains(vector_run, tmp_path):
    model_file, description_file = export(vector_run)
    assert model_file == vector_run / "export" / "model.pt2" and description_file.name == "model.json"
    script_file, script_description = export(vector_run, format="torchscript")
    assert script_file == vector_run / "export" / "model.torchscript.pt"
    assert script_description.name == "model.torchscript.json"
    method, pair = checkpoint_model(vector_run)
    np.save(tmp_path / "x.npy", pair.target_test.x[:37].numpy())  # another batch size than the export's
    with torch.no_grad():
        expected = method.predict(pair.target_test.x[:37])
    for logits in logits_without_dasuite(model_file, tmp_path / "x.npy", script_file):  # one interpreter for both
        assert torch.allclose(logits, expected, atol=1e-5)
    description = json.loads(description_file.read_text())
    assert description["format"] == "export" and "torch.export.load(path).module()(x)" in description["usage"]
    assert description["class_names"] == ["upper", "lower"] and description["input"]["shape"] == ["N", 2]
    assert description["normalisation_inside_model"] is None
    assert json.loads(script_description.read_text())["format"] == "torchscript"
    (tmp_path / "elsewhere").mkdir()  # output= a folder: the default file name inside it
    assert export(vector_run, "torchscript", output=tmp_path / "elsewhere") == (
        tmp_path / "elsewhere" / "model.torchscript.pt", tmp_path / "elsewhere" / "model.torchscript.json")


def test_a_model_torch_export_cannot_capture_falls_back_to_torchscript_unless_export_was_asked(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_in_process(run_dir, "trainer.epochs=1", "method=adda")["status"] == "completed"
    model_file, _ = export(run_dir)  # ADDA's predict branches on a buffer's value
    assert model_file.name == "model.torchscript.pt"
    err = capsys.readouterr().err
    assert "torch.export cannot capture this model's prediction" in err and "Writing TorchScript instead" in err
    assert "def forward" not in err  # torch's printout of the partial graph is kept off the console
    with pytest.raises(ConfigError, match="torch.export cannot capture.*format=torchscript"):
        export(run_dir, format="export")


def test_the_export_of_an_image_model_normalises_raw_pixels_itself(tmp_path):
    source = fake_data.write_image_folder(tmp_path / "amazon", per_class=4)
    target = fake_data.write_image_folder(tmp_path / "webcam", per_class=3)
    run_dir = tmp_path / "run"
    summary = train_in_process(run_dir, "dataset=folder", f"dataset.source_dir={source}", f"dataset.target_dir={target}",
                               "dataset.image_size=16", "backbone=lenet", "backbone.bottleneck_dim=8",
                               "trainer.epochs=1", "trainer.batch_size=4")
    assert summary["status"] == "completed", summary.get("error")
    model_file, description_file = export(run_dir, output=tmp_path / "out" / "digits.pt2")
    assert model_file.is_file() and description_file == tmp_path / "out" / "digits.json"
    method, pair = checkpoint_model(run_dir)
    np.save(tmp_path / "x.npy", pair.target_test.x.numpy())  # raw uint8 pixels
    with torch.no_grad():
        expected = method.predict(pair.prepare(pair.target_test.x))
    assert torch.allclose(logits_without_dasuite(model_file, tmp_path / "x.npy"), expected, atol=1e-4)
    description = json.loads(description_file.read_text())
    assert description["input"]["shape"] == ["N", 3, 16, 16] and description["input"]["channels"] == 3
    normalisation = description["normalisation_inside_model"]
    assert normalisation["mean"] == pytest.approx([0.485, 0.456, 0.406]) and len(normalisation["std"]) == 3
    assert description["class_names"] == ["cat", "dog"]


def test_an_arrays_run_exports_its_source_statistics(tmp_path):
    source = fake_data.write_arrays(tmp_path / "s.npz", seed=0)
    target = fake_data.write_arrays(tmp_path / "t.npz", shift=3.0, seed=1)
    run_dir = tmp_path / "run"
    assert train_in_process(run_dir, "dataset=arrays", f"dataset.source={source}", f"dataset.target={target}",
                            "trainer.epochs=2")["status"] == "completed"
    model_file, description_file = export(run_dir)
    method, pair = checkpoint_model(run_dir)
    np.save(tmp_path / "x.npy", pair.target_test.x.numpy())
    with torch.no_grad():
        expected = method.predict(pair.prepare(pair.target_test.x))
    assert torch.allclose(logits_without_dasuite(model_file, tmp_path / "x.npy"), expected, atol=1e-5)
    normalisation = json.loads(description_file.read_text())["normalisation_inside_model"]
    assert normalisation["mean"] == pytest.approx(pair.preprocess.mean.tolist())


def test_onnx_without_the_extra_says_how_to_install_it(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnx" else real_find_spec(name, *args))
    with pytest.raises(ConfigError, match=r"format=onnx needs the onnx.*pip install 'dasuite\[onnx\]'"):
        export(tmp_path, format="onnx")
    with pytest.raises(ConfigError, match="format='tflite' is not one of export, torchscript, onnx"):
        export(tmp_path, format="tflite")
    with pytest.raises(ConfigError, match=r"ends in .json, the suffix of the description.*e.g. m.pt2"):
        export(tmp_path, output=tmp_path / "m.json")


def test_onnx_export_gives_the_checkpoints_logits(tmp_path):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    run_dir = tmp_path / "run"
    assert train_in_process(run_dir, "trainer.epochs=2", "method=adda")["status"] == "completed"
    model_file, _ = export(run_dir, format="onnx")
    method, pair = checkpoint_model(run_dir)
    x = pair.target_test.x[:9]  # another batch size than the export's
    logits = onnxruntime.InferenceSession(str(model_file)).run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        assert np.allclose(logits, method.predict(x).numpy(), atol=1e-5)
