"""The ``folder`` pair: ImageFolder trees of your own images, in memory or streamed from disk."""

import pytest
import torch

from dasuite.data.folder import folder_pair
from dasuite.errors import ConfigError
from tests import fake_data
from tests.conftest import train_in_process


@pytest.fixture
def trees(tmp_path):
    source = fake_data.write_image_folder(tmp_path / "amazon", per_class=5)
    target = fake_data.write_image_folder(tmp_path / "webcam", per_class=3, size=(30, 26))
    return source, target


def test_folder_pair_decodes_resizes_and_labels_by_class_folder(trees):
    source, target = trees
    d = folder_pair(source, target, image_size=16)
    assert d.source.x.shape == (10, 3, 16, 16) and d.source.x.dtype == torch.uint8
    assert d.source.y.tolist() == [0] * 5 + [1] * 5 and d.class_names == ["cat", "dog"]
    assert d.target.x.shape == (6, 3, 16, 16) and d.target_test is d.target  # the usual UDA protocol


def test_class_folders_that_differ_are_listed(trees, tmp_path):
    source, _ = trees
    other = fake_data.write_image_folder(tmp_path / "dslr", classes=("cat", "bird"), per_class=2)
    with pytest.raises(ConfigError, match=r"only in source_dir: \['dog'\]; only in target_dir: \['bird'\]"):
        folder_pair(source, other, image_size=16)
    with pytest.raises(ConfigError, match="dataset.target_dir=.*nowhere is not a folder"):
        folder_pair(source, tmp_path / "nowhere", image_size=16)


def test_unreadable_images_are_skipped_and_counted_or_rejected_when_strict(trees, caplog):
    source, target = trees
    (source / "cat" / "broken.png").write_bytes(b"not an image")
    with caplog.at_level("WARNING"):
        d = folder_pair(source, target, image_size=16)
    assert len(d.source) == 10 and "skipped 1 unreadable image file(s) of 11" in caplog.text
    with pytest.raises(ConfigError, match="broken.png.*dataset.strict=true"):
        folder_pair(source, target, image_size=16, strict=True)


def test_large_folders_stream_from_disk_and_train(trees, tmp_path):
    source, target = trees
    lazy = folder_pair(source, target, image_size=16, memory_limit_mb=0, workers=0)
    assert not isinstance(lazy.source.x, torch.Tensor) and lazy.source.x[0].shape == (3, 16, 16)
    summary = train_in_process(tmp_path / "run", "dataset=folder", f"dataset.source_dir={source}",
                               f"dataset.target_dir={target}", "dataset.image_size=16", "dataset.memory_limit_mb=0",
                               "dataset.workers=1", "backbone=lenet", "trainer.epochs=1", "trainer.batch_size=4")
    assert summary["status"] == "completed", summary.get("error")
    assert summary["samples_per_second"] > 0 and 0 <= summary["target_acc"] <= 1
