"""The named object benchmarks (Office-31, Office-Home, VisDA-2017, DomainNet, PACS) on tiny fake trees in
their official layouts, their archive download, the ImageNet crops, and pretrained weights offline."""

import hashlib
import io
import tarfile
import urllib.error

import pytest
import torch

from dasuite.data.archives import Remote, fetch
from dasuite.data.benchmarks import BENCHMARKS, benchmark_pair, resolve_task
from dasuite.data.images import Preprocess
from dasuite.errors import ConfigError
from dasuite.assembly.pair import build_pair
from dasuite.models.torchvision_nets import torchvision_backbone
from tests.conftest import compose_config, train_in_process

TINY = ["dataset.image_size=12", "dataset.crop_size=8"]
#: benchmark -> (two of its real classes, the source -> target task the test reads)
CASES = {"office31": (["back_pack", "bike"], "A2W"), "office_home": (["Drill", "Exit_Sign"], "Ar2Cl"),
         "visda2017": (["aeroplane", "bicycle"], "T2V"), "domainnet": (["aircraft_carrier", "airplane"], "c2p"),
         "pacs": (["dog", "elephant"], "P2S")}


def _jpgs(folder, n: int, seed: int = 0) -> list:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    pixels = torch.randint(0, 256, (n, 10, 14, 3), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    for i in range(n):
        Image.fromarray(pixels[i].numpy()).save(folder / f"{i:04d}.jpg")
    return sorted(folder.glob("*.jpg"))


def fake_tree(data_root, name: str, classes) -> dict[str, int]:
    """Every domain of benchmark ``name`` in its official layout, domain i holding i + 1 images per class
    (DomainNet: i + 2, listed 1 for test and the rest for train); returns images per domain."""
    root, counts = data_root / name, {}
    for i, domain in enumerate(BENCHMARKS[name].domains):
        per_class = i + 1 + BENCHMARKS[name].lists
        lines = {"train": [], "test": []}
        for label, cls in enumerate(classes):
            for k, path in enumerate(_jpgs(root / domain.folder / cls, per_class, seed=10 * i + label)):
                lines["test" if k == 0 else "train"].append(f"{path.relative_to(root).as_posix()} {label}")
        if BENCHMARKS[name].lists:
            for split, rows in lines.items():
                (root / f"{domain.name}_{split}.txt").write_text("\n".join(rows) + "\n")
        counts[domain.name] = per_class * len(classes)
    return counts


def _compose(name, data_root, *overrides):
    classes, _ = CASES[name]
    return compose_config(f"dataset={name}", f"data_root={data_root}", f"dataset.classes=[{','.join(classes)}]",
                          *TINY, *overrides)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_official_layout_loads_its_classes_domains_and_splits(name, tmp_path):
    classes, task = CASES[name]
    counts = fake_tree(tmp_path, name, classes)
    pair = build_pair(_compose(name, tmp_path, f"dataset.task={task}").dataset)
    source, target = resolve_task(BENCHMARKS[name], None, None, task)
    assert pair.class_names == classes and pair.num_classes == 2 and pair.input_shape == (3, 8, 8)
    assert len(pair.source_train) + len(pair.source_val) == counts[source.name] - 2 * BENCHMARKS[name].lists
    if BENCHMARKS[name].lists:  # DomainNet: the target's train list to adapt on, its test list to test on
        assert len(pair.target_train) == counts[target.name] - 2 and len(pair.target_test) == 2
    else:  # the whole target domain is both
        assert len(pair.target_train) == len(pair.target_test) == counts[target.name]
        assert torch.equal(pair.target_train, pair.target_test.x)
    assert sorted(set(pair.target_test.y.tolist())) == [0, 1]
    assert pair.source_train.x.shape[1:] == (3, 12, 12) and pair.source_train.x.dtype == torch.uint8


def test_letters_full_names_and_tasks_name_the_same_domains():
    office = BENCHMARKS["office31"]
    expected = (office.domains[0], office.domains[2])  # amazon -> webcam
    assert resolve_task(office, "A", "w", None) == resolve_task(office, "Amazon", "WEBCAM", None) == expected
    assert resolve_task(office, "dslr", "dslr", "a2W") == expected  # the task wins over source/target
    assert [d.name for d in resolve_task(BENCHMARKS["office_home"], None, None, "rw2PR")] == ["Real_World", "Product"]
    assert [d.name for d in resolve_task(BENCHMARKS["visda2017"], "train", "Real", None)] == ["synthetic", "real"]
    assert [d.name for d in resolve_task(BENCHMARKS["domainnet"], None, None, "q2i")] == ["quickdraw", "infograph"]


def test_source_and_target_keys_read_those_domains(tmp_path):
    counts = fake_tree(tmp_path, "office31", CASES["office31"][0])
    pair = build_pair(_compose("office31", tmp_path, "dataset.source=d", "dataset.target=Amazon").dataset)
    assert len(pair.source_train) + len(pair.source_val) == counts["dslr"]
    assert len(pair.target_train) == counts["amazon"]


def test_a_wrong_domain_or_task_lists_the_valid_domains(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset.source='X' is not a domain of Office-31. Valid domains: "
                                          r"amazon \(A\), dslr \(D\), webcam \(W\)"):
        benchmark_pair("office31", ["bike"], source="X", target="W", data_root=tmp_path)
    with pytest.raises(ConfigError, match=r"dataset.task='Ar-Cl' is not of the form <source>2<target> \(e.g. "
                                          r"Ar2Cl\). Office-Home domains: Art \(Ar\), Clipart \(Cl\), Product"):
        benchmark_pair("office_home", ["Drill"], task="Ar-Cl", data_root=tmp_path)


def test_a_missing_domain_names_its_files_and_the_download_command(tmp_path):
    with pytest.raises(ConfigError) as error:
        benchmark_pair("office31", ["bike"], task="W2D", data_root=tmp_path)
    message = str(error.value)
    assert f"expected the folder {tmp_path / 'office31' / 'webcam' / 'images'}" in message and "webcam.tgz" in message
    assert (f"`dasuite train dataset=office31 dataset.source=webcam dataset.target=dslr data_root={tmp_path} "
            "download=true`") in message and "\n" not in message
    fake_tree(tmp_path, "domainnet", ["airplane"])
    (tmp_path / "domainnet" / "sketch_test.txt").unlink()
    with pytest.raises(ConfigError, match=r"DomainNet domain sketch not found: .*sketch_train.txt and .*sketch_test.txt"
                                          r".*sketch.zip, sketch_train.txt, sketch_test.txt"):
        benchmark_pair("domainnet", ["airplane"], task="c2s", data_root=tmp_path)


def test_a_partly_unpacked_domain_names_the_missing_classes(tmp_path):
    fake_tree(tmp_path, "pacs", ["dog"])
    with pytest.raises(ConfigError, match=r"pacs/photo has no images for 1 of the 2 classes of dataset.classes: "
                                          r"giraffe\. The archive may be partly unpacked"):
        benchmark_pair("pacs", ["dog", "giraffe"], task="P2A", data_root=tmp_path)


def test_download_fetches_only_the_missing_domains(tmp_path, monkeypatch):
    fake_tree(tmp_path, "office31", ["bike"])
    fetched = []

    def fake_fetch(remote, folder):
        fetched.append(remote.file)
        _jpgs(folder / "webcam" / "images" / "bike", 2)

    monkeypatch.setattr("dasuite.data.benchmarks.fetch", fake_fetch)
    import shutil

    shutil.rmtree(tmp_path / "office31" / "webcam")
    d = benchmark_pair("office31", ["bike"], task="A2W", data_root=tmp_path, download=True, image_size=12, crop_size=8)
    assert fetched == ["webcam.tgz"] and len(d.target) == 2


def _tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_archives_are_checked_then_unpacked_inside_their_folder(tmp_path):
    good = _tgz({"amazon/images/bike/0.jpg": b"jpeg bytes"})
    (tmp_path / "good.tgz").write_bytes(good)
    url = (tmp_path / "good.tgz").as_uri()  # a local file: nothing leaves this machine
    with pytest.raises(ConfigError, match="has MD5 .*, not the published 0123"):
        fetch(Remote(url, "amazon.tgz", "0123"), tmp_path / "data")
    assert not list((tmp_path / "data").iterdir())  # the damaged download is gone
    fetch(Remote(url, "amazon.tgz", hashlib.md5(good).hexdigest()), tmp_path / "data")
    assert (tmp_path / "data" / "amazon" / "images" / "bike" / "0.jpg").read_bytes() == b"jpeg bytes"
    assert not (tmp_path / "data" / "amazon.tgz").exists()  # the archive is removed once unpacked
    (tmp_path / "evil.tgz").write_bytes(_tgz({"../escaped.txt": b"x"}))
    with pytest.raises(ConfigError, match="holds the path '../escaped.txt', which leads outside"):
        fetch(Remote((tmp_path / "evil.tgz").as_uri(), "evil.tgz"), tmp_path / "data")
    assert not (tmp_path / "escaped.txt").exists()
    with pytest.raises(ConfigError, match="downloading .*nothing.tgz failed .*download the file by hand"):
        fetch(Remote((tmp_path / "nothing.tgz").as_uri(), "nothing.tgz"), tmp_path / "data")


def test_imagenet_crops_train_random_resized_and_test_centre():
    x = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    preprocess = Preprocess((0.5,) * 3, (0.5,) * 3, "resized_crop_flip", 3, crop=10)
    assert preprocess(x, train=True).shape == preprocess(x).shape == (6, 3, 10, 10)
    assert torch.equal(preprocess(x), (x[:, :, 3:13, 3:13].float() / 255 - 0.5) / 0.5)  # the centre crop
    assert preprocess(x[:, :, 3:13, 3:13]).shape == (6, 3, 10, 10)  # model-sized inputs (predict) pass as they are
    from dasuite.data.images import random_resized_crop

    whole = random_resized_crop(x, 16, scale=(1.0, 1.0), ratio=(1.0, 1.0))  # the whole image, maybe mirrored
    assert all(torch.allclose(w, i.float(), atol=1e-3) or torch.allclose(w, i.float().flip(-1), atol=1e-3)
               for w, i in zip(whole, x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_configs_use_a_pretrained_resnet50_and_the_imagenet_recipe(name):
    cfg = compose_config(f"dataset={name}")
    assert cfg.backbone.name == "resnet50" and cfg.backbone.pretrained is True
    assert list(cfg.dataset.mean) == [0.485, 0.456, 0.406] and list(cfg.dataset.std) == [0.229, 0.224, 0.225]
    augment = "center_crop_flip" if name == "visda2017" else "resized_crop_flip"  # TLL's VisDA lines: cen.crop
    assert (cfg.dataset.image_size, cfg.dataset.crop_size, cfg.dataset.augment) == (256, 224, augment)
    assert cfg.dataset.download is False and cfg.dataset.task is None
    assert len(cfg.dataset.classes) == {"office31": 31, "office_home": 65, "visda2017": 12, "domainnet": 345,
                                        "pacs": 7}[name]


@pytest.mark.parametrize("backbone", ["resnet50", "resnet18", "vgg16", "vit_b_16"])
def test_pretrained_offline_without_weights_is_one_clear_paragraph(backbone, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError) as error:
        torchvision_backbone((3, 224, 224), backbone, pretrained=True)
    message = str(error.value)
    assert f"backbone {backbone} with pretrained=true needs torchvision's ImageNet weights, expected at {tmp_path}" \
        in message and "download=true" in message and "backbone.weights_path" in message and "\n" not in message


def test_pretrained_download_offline_fails_fast_with_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torch.hub.urlopen", offline)
    with pytest.raises(ConfigError, match=r"downloading the resnet18 weights from https://download.pytorch.org/"
                                          r".*failed .*no network.*place the file at"):
        torchvision_backbone((3, 32, 32), "resnet18", pretrained=True, download=True)


def test_an_office31_task_trains_end_to_end(tmp_path):
    fake_tree(tmp_path / "data", "office31", CASES["office31"][0])
    summary = train_in_process(tmp_path / "run", "dataset=office31", "dataset.task=W2D",
                               f"data_root={tmp_path / 'data'}", "dataset.classes=[back_pack,bike]", *TINY,
                               "backbone=linear", "trainer.epochs=1", "trainer.batch_size=4")
    assert summary["status"] == "completed", summary.get("error")
    assert summary["dataset"] == "office31" and 0 <= summary["target_acc"] <= 1


def test_a_named_weight_set_is_checked_and_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="backbone.weights='V9' is not one of torchvision's resnet50 weights: "
                                          "IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT"):
        torchvision_backbone((3, 224, 224), "resnet50", pretrained=True, weights="V9")
    with pytest.raises(ConfigError, match=r"expected at .*resnet50-0676ba61.pth"):  # the V1 file TLL's numbers used
        torchvision_backbone((3, 224, 224), "resnet50", pretrained=True, weights="IMAGENET1K_V1")


def test_predict_and_export_prepare_images_as_the_benchmark_evaluates_them(tmp_path):
    from dasuite.commands.export import describe
    from dasuite.commands.predict import predict
    from dasuite.assembly.trained import load_trained

    fake_tree(tmp_path / "data", "office31", CASES["office31"][0])
    settings = ["dataset=office31", "dataset.task=W2D", f"data_root={tmp_path / 'data'}",
                "dataset.classes=[back_pack,bike]", "dataset.image_size=40", "dataset.crop_size=32"]
    summary = train_in_process(tmp_path / "run", *settings, "backbone=linear", "trainer.epochs=1",
                               "trainer.batch_size=4")
    assert summary["status"] == "completed", summary.get("error")
    pair = build_pair(compose_config(*settings).dataset)  # dslr's first image: the target test set's first
    image = tmp_path / "data" / "office31" / "dslr" / "images" / "back_pack" / "0000.jpg"
    model = load_trained(tmp_path / "run")
    with torch.no_grad():  # the evaluation recipe: squashed to 40×40, centre 32×32 crop
        expected = model.method.predict(pair.prepare(pair.target_test.x[:1])).softmax(1)[0]
    path, _ = predict(tmp_path / "run", image, output=tmp_path / "out.csv", progress=False)
    row = path.read_text().splitlines()[1].split(",")
    assert [float(v) for v in row[2:]] == pytest.approx(expected.tolist(), abs=1e-5)
    loading = describe(model, tmp_path / "model.pt2", "export")["input"]["loading"]
    assert loading == "decode as RGB, resize to 40x40 (bilinear, aspect ratio not kept), centre-crop 32x32"
