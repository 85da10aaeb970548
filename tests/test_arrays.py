"""The ``arrays`` pair: your own feature tables (.npz / .pt / .csv / .npy) and each bad file."""

import json

import numpy as np
import pytest
import torch

from dasuite.data.arrays import arrays_pair
from dasuite.data.pair import split
from dasuite.errors import ConfigError
from dasuite.assembly.pair import build_pair
from tests import fake_data
from tests.conftest import compose_config, train_in_process


@pytest.mark.parametrize("suffix", [".npz", ".pt", ".csv"])
def test_each_file_type_gives_the_same_pair(suffix, tmp_path):
    source = fake_data.write_arrays(tmp_path / f"source{suffix}", n=60, seed=0)
    target = fake_data.write_arrays(tmp_path / f"target{suffix}", n=30, shift=1.0, seed=1)
    d = arrays_pair(source, target)
    assert d.input_shape == (4,) and d.num_classes == 3 and d.class_names == ["0", "1", "2"]
    assert len(d.source) == 60 and len(d.target) == 30 and d.target_test is d.target
    assert d.source.y.tolist() == [i % 3 for i in range(60)]
    expected = np.load(fake_data.write_arrays(tmp_path / "check.npz", n=60, seed=0))["x"]
    assert torch.allclose(d.source.x, torch.from_numpy(expected), atol=1e-5)


def test_standardisation_uses_the_source_statistics_only(tmp_path):
    source = fake_data.write_arrays(tmp_path / "s.npz", n=300, seed=0)
    target = fake_data.write_arrays(tmp_path / "t.npz", n=300, shift=5.0, seed=1)
    d = arrays_pair(source, target)
    standardised_source, standardised_target = d.preprocess(d.source.x), d.preprocess(d.target.x)
    assert torch.allclose(standardised_source.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(standardised_source.std(0, unbiased=False), torch.ones(4), atol=1e-4)
    assert (standardised_target.mean(0) > 2).all()  # the target's shift survives: no target statistics used
    raw = arrays_pair(source, target, standardize=False)
    assert raw.preprocess is None


def test_csv_labels_may_be_names_and_the_label_column_is_configurable(tmp_path):
    rows = ["x1,kind,x2", "0.0,cat,1.0", "1.0,dog,0.0", "0.5,cat,0.9", "0.9,dog,0.2"]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "t.csv").write_text("x1,x2\n0.1,0.8\n0.8,0.1\n")  # unlabeled target train
    (tmp_path / "test.csv").write_text("x1,kind,x2\n0.1,cat,0.8\n0.8,dog,0.1\n")
    d = arrays_pair(tmp_path / "s.csv", tmp_path / "t.csv", tmp_path / "test.csv", label_column="kind")
    assert d.class_names == ["cat", "dog"] and d.source.y.tolist() == [0, 1, 0, 1]
    assert d.source.x[1].tolist() == [1.0, 0.0] and d.target_test.y.tolist() == [0, 1]
    assert d.target.y.tolist() == [-1, -1]  # no labels: used unlabeled only


def test_an_unlabeled_npy_target_trains_with_a_labeled_test_file(tmp_path):
    source = fake_data.write_arrays(tmp_path / "s.npz", seed=0)
    np.save(tmp_path / "t.npy", np.load(fake_data.write_arrays(tmp_path / "t.npz", shift=1.0, seed=1))["x"])
    test = fake_data.write_arrays(tmp_path / "test.pt", shift=1.0, seed=2)
    d = arrays_pair(source, tmp_path / "t.npy", test)
    assert len(d.target) == 60 and len(d.target_test) == 60 and d.target_test is not d.target
    with pytest.raises(ConfigError, match="needs labels in the target train set"):
        split(d, val_fraction=0.1, labels_per_class=2, seed=0)


def _bad_files(tmp_path):
    good = fake_data.write_arrays(tmp_path / "good.npz")
    no_label = fake_data.write_arrays(tmp_path / "no_label.csv", labels=False)
    wide = fake_data.write_arrays(tmp_path / "wide.npz", features=5)
    nan = tmp_path / "nan.npz"
    x = np.load(good)["x"].copy()
    x[7, 2] = np.nan
    np.savez(nan, x=x, y=np.load(good)["y"])
    unseen = tmp_path / "unseen.npz"
    np.savez(unseen, x=x[:6] * 0, y=np.array([0, 1, 2, 3, 4, 0]))
    unlabeled = fake_data.write_arrays(tmp_path / "unlabeled.npz", labels=False)
    text = tmp_path / "text.csv"
    text.write_text("a,b,label\n1.0,oops,0\n2.0,3.0,1\n")
    return {
        "missing label column": ((no_label, good),
                                 r"dataset.source=.*no_label.csv has no label column 'label' \(dataset.label_column\)"),
        "mismatched widths": ((good, wide), r"dataset.target=.*wide.npz has features of shape \(5,\), the source \(4,\)"),
        "NaN": ((good, nan), r"dataset.target=.*nan.npz has NaN or infinite features in 1 row\(s\) \(first: row 7\)"),
        "unseen target labels": ((good, unseen), r"labels the source never had: 3, 4\. The source classes are: 0, 1, 2"),
        "unlabeled target, no test": ((good, unlabeled), r"dataset.target=.*has no labels.*dataset.target_test"),
        "text in a feature column": ((text, good), r"dataset.source=.*text.csv: .*oops.*must hold numbers"),
        "unknown file type": ((tmp_path / "x.parquet", good), r"unknown file type '.parquet'; use one of .npz"),
        "missing file": ((tmp_path / "nowhere.npz", good), r"dataset.source=.*nowhere.npz does not exist"),
        "no source given": ((None, good), r"dataset=arrays needs dataset.source=<file>"),
    }


@pytest.mark.parametrize("case", ["missing label column", "mismatched widths", "NaN", "unseen target labels",
                                  "unlabeled target, no test", "text in a feature column", "unknown file type",
                                  "missing file", "no source given"])
def test_each_bad_file_gets_its_own_clear_error(case, tmp_path):
    (source, target), message = _bad_files(tmp_path)[case]
    with pytest.raises(ConfigError, match=message):
        arrays_pair(source, target)


def test_arrays_run_with_target_labels_records_them_and_evaluates_on_the_rest(tmp_path):
    source = fake_data.write_arrays(tmp_path / "s.csv", n=90, seed=0)
    target = fake_data.write_arrays(tmp_path / "t.csv", n=60, shift=1.0, seed=1)
    run_dir = tmp_path / "run"
    overrides = ["dataset=arrays", f"dataset.source={source}", f"dataset.target={target}",
                 "dataset.target_labels_per_class=2"]
    summary = train_in_process(run_dir, *overrides, "trainer.epochs=2")
    assert summary["status"] == "completed", summary.get("error")
    record = json.loads((run_dir / "target_labels.json").read_text())
    assert record["target_labels_per_class"] == 2 and len(record["indices"]) == 6
    labels = [str(i % 3) for i in record["indices"]]  # fake_data's labels cycle through the classes
    assert record["labels"] == labels and sorted(labels) == ["0", "0", "1", "1", "2", "2"]
    pair = build_pair(compose_config(*overrides).dataset)  # the run's pair, rebuilt
    assert pair.target_labeled_index.tolist() == record["indices"] and len(pair.target_test) == 54
    labeled_rows = {tuple(row) for row in pair.target_train[record["indices"]].tolist()}
    assert not labeled_rows & {tuple(row) for row in pair.target_test.x.tolist()}  # never evaluated on


def test_a_csv_with_a_byte_order_mark_and_one_hot_labels(tmp_path):
    (tmp_path / "s.csv").write_text("label,a,b\n0,1.0,2.0\n1,2.0,3.0\n", encoding="utf-8-sig")  # Excel's CSV UTF-8
    d = arrays_pair(tmp_path / "s.csv", tmp_path / "s.csv")
    assert d.input_shape == (2,) and d.class_names == ["0", "1"]
    np.savez(tmp_path / "onehot.npz", x=np.ones((4, 2)), y=np.eye(2)[[0, 1, 0, 1]])
    with pytest.raises(ConfigError, match=r"y has shape \(4, 2\); labels must be one per row.*y.argmax\(1\)"):
        arrays_pair(tmp_path / "onehot.npz", tmp_path / "s.csv")


def test_csv_files_must_name_the_same_feature_columns_in_the_same_order(tmp_path):
    (tmp_path / "s.csv").write_text("age,weight,label\n30,70,0\n40,80,1\n")
    (tmp_path / "swapped.csv").write_text("weight,age,label\n70,30,0\n80,40,1\n")
    (tmp_path / "renamed.csv").write_text("age,height,label\n30,170,0\n40,180,1\n")
    with pytest.raises(ConfigError, match=r"swapped.csv has the same columns in another order: its feature columns "
                                          r"are weight, age; the source's are age, weight"):
        arrays_pair(tmp_path / "s.csv", tmp_path / "swapped.csv")
    with pytest.raises(ConfigError, match=r"renamed.csv has columns the source lacks \(height\)"):
        arrays_pair(tmp_path / "s.csv", tmp_path / "renamed.csv")
    npz = fake_data.write_arrays(tmp_path / "t.npz", features=2, classes=2)  # no column names: width only
    assert arrays_pair(tmp_path / "s.csv", npz).input_shape == (2,)
