"""``dasuite predict``: predictions.csv from a trained run, checked against the checkpoint's own model."""

import csv
import shutil

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from dasuite.commands.predict import main, predict
from dasuite.errors import ConfigError
from dasuite.assembly.method import build_method
from dasuite.assembly.pair import build_pair
from dasuite.assembly.trained import load_trained
from tests import fake_data
from tests.conftest import read_summary, train_in_process


def checkpoint_model(run_dir):
    """The run's model built by hand from its checkpoint (what evaluation used)."""
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)
    cfg = OmegaConf.create(state["config"])
    pair = build_pair(cfg.dataset)
    method = build_method(cfg, pair.input_shape, pair.num_classes)
    method.load_state_dict(state["model"])
    return method.eval(), pair


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("moons") / "run"
    assert train_in_process(run_dir, "trainer.epochs=5")["status"] == "completed"
    return run_dir


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    source = fake_data.write_image_folder(root / "amazon", per_class=6)
    target = fake_data.write_image_folder(root / "webcam", per_class=4, size=(30, 26))
    summary = train_in_process(root / "run", "dataset=folder", f"dataset.source_dir={source}",
                               f"dataset.target_dir={target}", "dataset.image_size=16", "backbone=lenet",
                               "trainer.epochs=2", "trainer.batch_size=4")
    assert summary["status"] == "completed", summary.get("error")
    return root / "run", target, summary


def test_predictions_on_an_array_match_the_checkpoint_and_its_target_accuracy(moons_run, tmp_path):
    method, pair = checkpoint_model(moons_run)
    np.save(tmp_path / "test.npy", pair.target_test.x.numpy())
    path, count = predict(moons_run, tmp_path / "test.npy", progress=False)
    rows = read_rows(path)
    assert path == tmp_path / "predictions.csv" and count == len(rows) == len(pair.target_test)
    assert list(rows[0]) == ["input", "predicted", "prob_upper", "prob_lower"]
    probabilities = np.array([[float(r["prob_upper"]), float(r["prob_lower"])] for r in rows])
    assert np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    with torch.no_grad():
        expected = method.predict(pair.target_test.x).argmax(1)
    assert [r["predicted"] for r in rows] == [pair.class_names[c] for c in expected.tolist()]
    assert [r["input"] for r in rows] == [str(i) for i in range(len(rows))]
    accuracy = np.mean([r["predicted"] == pair.class_names[y] for r, y in zip(rows, pair.target_test.y.tolist())])
    assert accuracy == pytest.approx(read_summary(moons_run)["target_acc"])


def test_predictions_on_an_image_folder_reproduce_the_runs_target_accuracy(folder_run, tmp_path):
    run_dir, target, summary = folder_run
    path, count = predict(run_dir, target, output=tmp_path / "out.csv", progress=False)
    rows = read_rows(path)
    assert count == len(rows) == 8 and {r["input"] for r in rows} == {f"{c}/{i}.png" for c in ("cat", "dog")
                                                                     for i in range(4)}
    sums = [float(r["prob_cat"]) + float(r["prob_dog"]) for r in rows]
    assert np.allclose(sums, 1.0, atol=1e-5)
    accuracy = np.mean([r["predicted"] == r["input"].split("/")[0] for r in rows])
    assert accuracy == pytest.approx(summary["target_acc"])  # the whole target folder is the test set
    single, n = predict(run_dir, target / "dog" / "2.png", output=tmp_path / "one.csv", progress=False)
    (row,) = read_rows(single)
    assert n == 1 and row == next(r for r in rows if r["input"] == "dog/2.png") | {"input": "2.png"}


def test_an_image_array_gets_the_same_predictions_as_the_image_files(folder_run, tmp_path):
    run_dir, target, _ = folder_run
    method, pair = checkpoint_model(run_dir)
    np.save(tmp_path / "images.npy", pair.target_test.x.numpy())  # uint8 (N, 3, 16, 16)
    rows = read_rows(predict(run_dir, tmp_path / "images.npy", progress=False)[0])
    with torch.no_grad():
        expected = method.predict(pair.prepare(pair.target_test.x)).argmax(1)
    assert [r["predicted"] for r in rows] == [pair.class_names[c] for c in expected.tolist()]


def test_inputs_that_do_not_fit_a_vector_model_are_explained(moons_run, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    with pytest.raises(ConfigError, match=r"rows of shape \(3,\), but the run's model takes 2 features per row"):
        predict(moons_run, tmp_path / "x.npy", progress=False)
    folder = fake_data.write_image_folder(tmp_path / "images")
    with pytest.raises(ConfigError, match=r"is an image folder, but the run's model takes vectors of shape \(2,\)"):
        predict(moons_run, folder, progress=False)


@pytest.mark.parametrize(("array", "message"), [
    (np.zeros((2, 1, 16, 16), np.uint8), r"shape \(1, 16, 16\).*3×16×16.*1 channel\(s\) instead of 3"),
    (np.zeros((2, 16, 16, 3), np.uint8), r"channels-last; transpose it with x.transpose\(0, 3, 1, 2\)"),
    (np.zeros((2, 3, 28, 28), np.uint8), r"resize them to 16×16"),
    (np.full((2, 3, 16, 16), 0.5, np.float32), r"raw pixel values, integers 0..255"),
])
def test_image_arrays_of_the_wrong_shape_channels_or_scale_are_explained(array, message, folder_run, tmp_path):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(ConfigError, match=message):
        predict(folder_run[0], tmp_path / "x.npy", progress=False)


def test_missing_checkpoints_and_bad_arguments(moons_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    best = load_trained(moons_run, "best")
    assert best.epoch == read_summary(moons_run)["best_epoch"] and best.checkpoint.name == "best.pt"
    old_run = tmp_path / "old_run"
    shutil.copytree(moons_run, old_run)
    (old_run / "checkpoints" / "best.pt").unlink()
    with pytest.raises(ConfigError, match=r"no checkpoints/best.pt \(the epoch trainer.select picks\).*Use checkpoint=last"):
        predict(old_run, tmp_path / "x.npy", checkpoint="best")
    with pytest.raises(ConfigError, match=r"no checkpoint \(checkpoints/last.pt\): it holds run folders; pass one "
                                          r"of them: run"):
        predict(moons_run.parent, tmp_path / "x.npy")
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "summary.json").write_text("{}")
    with pytest.raises(ConfigError, match="failed or was stopped before its first epoch ended"):
        predict(tmp_path / "failed", tmp_path / "x.npy")
    assert main([f"run_dir={moons_run}", f"input={tmp_path / 'x.npy'}", "colour=red"]) == 2
    assert "cannot read 'colour=red': arguments are key=value with key one of run_dir, input" in capsys.readouterr().err
    assert main([f"input={tmp_path / 'x.npy'}"]) == 2
    assert "missing run_dir=..." in capsys.readouterr().err
    assert main([f"run_dir={moons_run}", f"input={tmp_path / 'x.npy'}", "progress=false"]) == 0
    assert len(read_rows(tmp_path / "predictions.csv")) == 3


def test_a_corrupted_or_foreign_checkpoint_is_named_with_the_problem(moons_run, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    run_dir = tmp_path / "run"
    shutil.copytree(moons_run, run_dir)
    last = run_dir / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # a copy cut short
    with pytest.raises(ConfigError, match=f"cannot load {last}: the file cannot be read .*truncated or not a dasuite"):
        predict(run_dir, tmp_path / "x.npy")
    torch.save({"weights": {}}, last)
    with pytest.raises(ConfigError, match=f"cannot load {last}: it holds no model weights"):
        predict(run_dir, tmp_path / "x.npy")
    with pytest.raises(ConfigError, match="device='tpu' is not one of auto, cpu, cuda"):
        predict(moons_run, tmp_path / "x.npy", device="tpu")


def _named_csv(npz, path, names=("zebra", "ant", "mole")):
    """The .npz table as a .csv whose label column ``kind`` holds names, not in sorted order."""
    data = np.load(npz)
    rows = [",".join([*(f"{v:.6f}" for v in x), names[y]]) for x, y in zip(data["x"], data["y"])]
    path.write_text("\n".join(["a,b,c,d,kind", *rows]) + "\n")
    return path


def _arrays_run(tmp_path, epochs):
    """A run on named-label .csv tables (label column ``kind``); returns its folder, target file and summary."""
    source = _named_csv(fake_data.write_arrays(tmp_path / "s.npz", seed=0), tmp_path / "s.csv")
    target = _named_csv(fake_data.write_arrays(tmp_path / "t.npz", shift=3.0, seed=1), tmp_path / "t.csv")
    run_dir = tmp_path / "run"
    summary = train_in_process(run_dir, "dataset=arrays", f"dataset.source={source}", f"dataset.target={target}",
                               "dataset.label_column=kind", f"trainer.epochs={epochs}")
    assert summary["status"] == "completed", summary.get("error")
    return run_dir, target, summary


def test_predictions_for_an_arrays_run_are_standardised_and_named_as_in_training(tmp_path):
    run_dir, target, summary = _arrays_run(tmp_path, epochs=3)
    rows = read_rows(predict(run_dir, target, progress=False)[0])  # its label column 'kind' is ignored
    assert list(rows[0]) == ["input", "predicted", "prob_ant", "prob_mole", "prob_zebra"] and len(rows) == 60
    truth = [line.rsplit(",", 1)[1] for line in target.read_text().splitlines()[1:]]
    accuracy = np.mean([r["predicted"] == name for r, name in zip(rows, truth)])
    assert accuracy == pytest.approx(summary["target_acc"])  # the target file is the test set
    method, pair = checkpoint_model(run_dir)
    with torch.no_grad():
        expected = method.predict(pair.prepare(pair.target_test.x)).softmax(1)  # standardised with the source's
    got = torch.tensor([[float(r[f"prob_{name}"]) for name in ("ant", "mole", "zebra")] for r in rows])
    assert torch.allclose(got, expected, atol=1e-5)


def test_csv_inputs_are_matched_to_the_training_columns_by_name(tmp_path):
    run_dir, target, _ = _arrays_run(tmp_path, epochs=2)
    lines = [line.split(",") for line in target.read_text().splitlines()]
    order = [3, 0, 2, 1, 4]  # columns d, a, c, b, kind
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join(",".join(row[i] for i in order) for row in lines) + "\n")
    as_trained = read_rows(predict(run_dir, target, output=tmp_path / "a.csv", progress=False)[0])
    reordered = read_rows(predict(run_dir, shuffled, output=tmp_path / "b.csv", progress=False)[0])
    assert reordered == as_trained
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("\n".join([",".join(["a", "b", "c", "e", "kind"]), *(",".join(r) for r in lines[1:])]) + "\n")
    with pytest.raises(ConfigError, match="trained on a, b, c, d; missing: d; not in training: e"):
        predict(run_dir, renamed, output=tmp_path / "c.csv", progress=False)


def test_inputs_of_an_unknown_type_or_without_a_channel_axis_are_explained(folder_run, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match=r"unknown file type '.txt'; give an image folder, an image file \(.jpg"):
        predict(folder_run[0], tmp_path / "notes.txt", progress=False)
    np.save(tmp_path / "gray.npy", np.zeros((2, 16, 16), np.uint8))
    with pytest.raises(ConfigError, match=r"no channel axis \(grayscale\) and the model takes 3 channels"):
        predict(folder_run[0], tmp_path / "gray.npy", progress=False)


def test_an_existing_predictions_file_is_kept_unless_overwrite_is_asked(moons_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    path, _ = predict(moons_run, tmp_path / "x.npy", progress=False)
    path.write_text("my edits\n")
    with pytest.raises(ConfigError, match=r"predictions.csv exists already.*overwrite=true.*output=FILE"):
        predict(moons_run, tmp_path / "x.npy", progress=False)
    assert path.read_text() == "my edits\n"
    assert main([f"run_dir={moons_run}", f"input={tmp_path / 'x.npy'}", "progress=false"]) == 2
    assert "add overwrite=true to replace it" in capsys.readouterr().err
    assert main([f"run_dir={moons_run}", f"input={tmp_path / 'x.npy'}", "progress=false", "overwrite=true"]) == 0
    assert len(read_rows(path)) == 3


def test_a_run_still_training_predicts_with_its_last_checkpoint_or_says_it_has_none_yet(moons_run, tmp_path, capsys):
    from dasuite.engine.run_folder import exclusive

    run_dir = shutil.copytree(moons_run, tmp_path / "run")
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    with exclusive(run_dir):  # what dasuite train holds while it writes the folder
        predict(run_dir, tmp_path / "x.npy", progress=False)
        assert "is still training (pid" in capsys.readouterr().err
        shutil.rmtree(run_dir / "checkpoints")
        with pytest.raises(ConfigError, match=r"is still training \(pid .*has saved no checkpoints/last.pt yet"):
            predict(run_dir, tmp_path / "x.npy", output=tmp_path / "other.csv", progress=False)
    with pytest.raises(ConfigError, match="no checkpoint"):  # the lock released: a run that stopped without one
        predict(run_dir, tmp_path / "x.npy", output=tmp_path / "other.csv", progress=False)
