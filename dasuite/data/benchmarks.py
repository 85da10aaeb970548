"""The field's object benchmarks by name, read in the layout their published archives unpack to.

=============  ==========================================================  =====================================
benchmark      under ``<data_root>/<name>/``                                target train / target test
=============  ==========================================================  =====================================
office31       ``{amazon,dslr,webcam}/images/<class>/*.jpg``                the whole target domain, both
office_home    ``{Art,Clipart,Product,Real_World}/<class>/*.jpg``           the whole target domain, both
visda2017      ``train/<class>/*.png`` (synthetic), ``validation/...`` (real)  the whole validation set, both
domainnet      ``<domain>/<class>/*.jpg`` + ``<domain>_{train,test}.txt``   the train list / the test list
pacs           ``{art_painting,cartoon,photo,sketch}/<class>/*.jpg``        the whole target domain, both
=============  ==========================================================  =====================================

Domains, their short letters and the archive URLs are those of Transfer-Learning-Library's loaders
(``tllib/vision/datasets/{office31,officehome,visda2017,domainnet,pacs}.py``); the splits follow its
and Dassl.pytorch's protocol (``dassl/data/datasets/da/``): the source is the whole source domain
(DomainNet: its train list), less dasuite's source validation share. The class lists live in the
configs (``dataset.classes``); a shorter list reads only those classes. Images are resized to
``image_size``×``image_size`` whatever their aspect (TLL's ``ResizeImage(256)``) and fed to the model
as ``crop_size`` crops: in training as ``augment`` says (TLL's RandomResizedCrop + flip by default; the
VisDA-2017 config its centre crop + flip), the centre crop for evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dasuite.data.archives import Remote, fetch
from dasuite.data.files import expand_root
from dasuite.data.folder import IMAGE_SUFFIXES, IMAGENET_MEAN, IMAGENET_STD, fits_in_memory, load_images
from dasuite.data.images import Preprocess, check_image_settings
from dasuite.data.pair import Domains
from dasuite.errors import ConfigError

_TSINGHUA = "https://cloud.tsinghua.edu.cn/f/{}/?dl=1"  # Transfer-Learning-Library's mirror
_DOMAINNET = "https://csr.bu.edu/ftp/visda/2019/multi-source/"  # DomainNet's cleaned release (ai.bu.edu/M3SDA)


@dataclass(frozen=True)
class Domain:
    name: str  # the official name, as dataset.source / dataset.target spell it
    letter: str  # Transfer-Learning-Library's short name (the task A2W names amazon -> webcam)
    folder: str  # where its images are, relative to <data_root>/<benchmark>
    remotes: tuple[Remote, ...]  # what download=true fetches for it

    def accepts(self, value: str) -> bool:
        return value.lower() in {self.name.lower(), self.letter.lower(), self.folder.split("/")[0].lower()}


@dataclass(frozen=True)
class Benchmark:
    title: str
    domains: tuple[Domain, ...]
    lists: bool = False  # DomainNet: images listed in <domain>_train.txt / <domain>_test.txt

    def domain(self, value, key: str) -> Domain:
        found = next((d for d in self.domains if d.accepts(str(value))), None)
        if found is None:
            raise ConfigError(f"dataset.{key}={value!r} is not a domain of {self.title}. Valid domains: {self.valid()} "
                              "(the full name or the letter, in any case).")
        return found

    def valid(self) -> str:
        return ", ".join(f"{d.name} ({d.letter})" for d in self.domains)


def _tgz(name: str, key: str) -> tuple[Remote, ...]:
    return (Remote(_TSINGHUA.format(key), f"{name}.tgz"),)


def _domainnet(name: str, archive: str, md5s: tuple[str, str, str]) -> Domain:
    """MD5s as a public DomainNet loader lists them (ddg's ``datasets/domainnet.py``): zip, train, test."""
    return Domain(name, name[0], name, (
        Remote(_DOMAINNET + archive, f"{name}.zip", md5s[0]),
        Remote(f"{_DOMAINNET}domainnet/txt/{name}_train.txt", f"{name}_train.txt", md5s[1]),
        Remote(f"{_DOMAINNET}domainnet/txt/{name}_test.txt", f"{name}_test.txt", md5s[2])))


BENCHMARKS = {
    "office31": Benchmark("Office-31", (
        Domain("amazon", "A", "amazon/images", _tgz("amazon", "ec12dfcddade43ab8101")),
        Domain("dslr", "D", "dslr/images", _tgz("dslr", "a41d818ae2f34da7bb32")),
        Domain("webcam", "W", "webcam/images", _tgz("webcam", "8a41009a166e4131adcd")))),
    "office_home": Benchmark("Office-Home", (
        Domain("Art", "Ar", "Art", _tgz("Art", "4691878067d04755beab")),
        Domain("Clipart", "Cl", "Clipart", _tgz("Clipart", "0d41e7da4558408ea5aa")),
        Domain("Product", "Pr", "Product", _tgz("Product", "76186deacd7c4fa0a679")),
        Domain("Real_World", "Rw", "Real_World", _tgz("Real_World", "dee961894cc64b1da1d7")))),
    # the challenge's own archives (VisionLearningGroup/taskcv-2017-public), over https as other loaders fetch them;
    # no checksum is published for them, so only the size the server reports is checked
    "visda2017": Benchmark("VisDA-2017", (
        Domain("synthetic", "T", "train", (Remote("https://csr.bu.edu/ftp/visda17/clf/train.tar", "train.tar"),)),
        Domain("real", "V", "validation",
               (Remote("https://csr.bu.edu/ftp/visda17/clf/validation.tar", "validation.tar"),)))),
    "domainnet": Benchmark("DomainNet", (
        _domainnet("clipart", "groundtruth/clipart.zip", ("cd0d8f2d77a4e181449b78ed62bccf1e",
                   "b4349693a7f9c05c53955725c47ed6cb", "f5ddbcfd657a3acf9d0f7da10db22565")),
        _domainnet("infograph", "infograph.zip", ("720380b86f9e6ab4805bb38b6bd135f8",
                   "379b50054f4ac2018dca4f89421b92d9", "779626b50869edffe8ea6941c3755c71")),
        _domainnet("painting", "groundtruth/painting.zip", ("1ae32cdb4f98fe7ab5eb0a351768abfd",
                   "7db0e7ca73ad9982f6e1f7f3ef372c0a", "232b35dc53f26d414686ae579e38d9b5")),
        _domainnet("quickdraw", "quickdraw.zip", ("bdc1b6f09f277da1a263389efe0c7a66",
                   "b732ced3939ac8efdd8c0a889dca56cc", "c1a828fdfe216fb109f1c0083a252c6f")),
        _domainnet("real", "real.zip", ("dcc47055e8935767784b7162e7c7cca6",
                   "8ebf02c2075fadd564705f0dc7cd6291", "6098816791c3ebed543c71ffa11b9054")),
        _domainnet("sketch", "sketch.zip", ("658d8009644040ff7ce30bb2e820850f",
                   "1233bd18aa9a8a200bf4cecf1c34ef3e", "d8a222e4672cfd585298aa14d02ea441"))), lists=True),
    "pacs": Benchmark("PACS", (
        Domain("art_painting", "A", "art_painting", _tgz("art_painting", "4eb7db4f3eec41719856")),
        Domain("cartoon", "C", "cartoon", _tgz("cartoon", "d847ac22497b4826889f")),
        Domain("photo", "P", "photo", _tgz("photo", "458ad21483da4a45935b")),
        Domain("sketch", "S", "sketch", _tgz("sketch", "c892ac2d94a44b1196b8")))),
}


def resolve_task(benchmark: Benchmark, source, target, task) -> tuple[Domain, Domain]:
    """The source and target domains: from ``task`` (``A2W``, ``Ar2Cl``) when given, else from the two keys."""
    if task is None:
        return benchmark.domain(source, "source"), benchmark.domain(target, "target")
    parts = str(task).split("2")
    if len(parts) != 2 or not all(parts):
        example = "2".join(d.letter for d in benchmark.domains[:2])
        raise ConfigError(f"dataset.task={task!r} is not of the form <source>2<target> (e.g. {example}). "
                          f"{benchmark.title} domains: {benchmark.valid()}.")
    return benchmark.domain(parts[0], "task (source)"), benchmark.domain(parts[1], "task (target)")


def benchmark_pair(name: str, classes: Sequence[str], source: str | None = None, target: str | None = None,
                   task: str | None = None, data_root="~/.cache/dasuite", download: bool = False,
                   image_size: int = 256, crop_size: int = 224, channels: int = 3, mean=IMAGENET_MEAN,
                   std=IMAGENET_STD, augment: str = "resized_crop_flip", memory_limit_mb: int = 2048,
                   workers: int = 2, strict: bool = False) -> Domains:
    """The ``source`` -> ``target`` pair of benchmark ``name`` (see the module docstring)."""
    if name not in BENCHMARKS:
        raise ConfigError(f"dataset.name={name!r} is not one of {', '.join(BENCHMARKS)}.")
    check_image_settings(image_size, channels)
    if not 8 <= crop_size <= image_size:
        raise ConfigError(f"dataset.crop_size={crop_size} must lie between 8 and dataset.image_size={image_size} "
                          "(the model sees crop_size crops of the image_size images).")
    classes = [str(c) for c in classes]
    if not classes or len(set(classes)) != len(classes):
        raise ConfigError(f"dataset.classes must list each class once; got {classes[:10]}.")
    benchmark = BENCHMARKS[name]
    src, tgt = resolve_task(benchmark, source, target, task)
    root = expand_root(data_root) / name
    command = (f"dasuite train dataset={name} dataset.source={src.name} dataset.target={tgt.name} "
               f"data_root={data_root} download=true")
    for domain in dict.fromkeys((src, tgt)):
        if download:
            for remote in domain.remotes:
                if not ((root / domain.folder).is_dir() if remote.is_archive else _list_file(root, remote.file)):
                    fetch(remote, root)
        _check_present(benchmark, domain, root, command)
    if benchmark.lists:
        files = {"source": _listed(root, src, "train", classes), "target": _listed(root, tgt, "train", classes),
                 "target_test": _listed(root, tgt, "test", classes)}
    else:
        files = {"source": _scanned(root, src, classes)}
        files["target"] = files["source"] if tgt == src else _scanned(root, tgt, classes)
    n_images = sum(len(paths) for paths, _ in {id(v): v for v in files.values()}.values())
    in_memory = fits_in_memory(n_images, image_size, channels, memory_limit_mb)
    sets = {}
    for role, (paths, labels) in files.items():
        same = next((sets[r] for r in sets if files[r] is files[role]), None)
        domain = src if role == "source" else tgt
        sets[role] = same or load_images(paths, labels, image_size, channels, workers, in_memory, strict,
                                         f"{benchmark.title} {domain.name}", squash=True)
    return Domains(source=sets["source"], target=sets["target"], target_test=sets.get("target_test", sets["target"]),
                   num_classes=len(classes), input_shape=(channels, crop_size, crop_size), class_names=classes,
                   preprocess=Preprocess(mean, std, augment, channels, crop=crop_size), stored_size=image_size,
                   squash=True)


def _list_file(root: Path, file: str) -> Path | None:
    """A DomainNet list where the official download puts it, or in Dassl.pytorch's ``splits/``."""
    return next((p for p in (root / file, root / "splits" / file) if p.is_file()), None)


def _check_present(benchmark: Benchmark, domain: Domain, root: Path, command: str) -> None:
    folder = root / domain.folder
    lists = [f"{domain.name}_{split}.txt" for split in ("train", "test")] if benchmark.lists else []
    absent = [f for f in lists if _list_file(root, f) is None]
    if folder.is_dir() and not absent:
        return
    what = f"the folder {folder} (one sub-folder of images per class)"
    if lists:
        what += f" and the image lists {' and '.join(str(root / f) for f in lists)}"
    files = ", ".join(r.file for r in domain.remotes)
    raise ConfigError(f"{benchmark.title} domain {domain.name} not found: expected {what}. Fetch it ({files}) with "
                      f"`{command}`, or unpack the archive(s) under {root} by hand, or point data_root= at the "
                      f"folder that holds {root.name}/.")


def _scanned(root: Path, domain: Domain, classes: list[str]) -> tuple[list[Path], list[int]]:
    """Image paths and labels of a domain in ImageFolder layout, one folder per listed class."""
    folder = root / domain.folder
    paths, labels, missing = [], [], []
    for label, name in enumerate(classes):
        found = sorted(p for p in (folder / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) \
            if (folder / name).is_dir() else []
        missing += [] if found else [name]
        paths += found
        labels += [label] * len(found)
    if missing:
        raise ConfigError(f"{folder} has no images for {len(missing)} of the {len(classes)} classes of "
                          f"dataset.classes: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}. The archive "
                          "may be partly unpacked (delete the folder and fetch it again with download=true), or "
                          "dataset.classes names classes this copy does not have.")
    return paths, labels


def _listed(root: Path, domain: Domain, split: str, classes: list[str]) -> tuple[list[Path], list[int]]:
    """Image paths and labels from DomainNet's ``<domain>_<split>.txt`` (``<domain>/<class>/<file> <label>``):
    the class is read from the path and numbered by ``dataset.classes``; other classes are left out."""
    path = _list_file(root, f"{domain.name}_{split}.txt")
    index = {name: i for i, name in enumerate(classes)}
    paths, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        relative = Path(line.split()[0])
        if relative.is_absolute() or ".." in relative.parts or len(relative.parts) < 3:
            raise ConfigError(f"{path} line {number}: {str(relative)!r} is not a <domain>/<class>/<file> path "
                              f"inside {root}.")
        if relative.parts[1] in index:
            paths.append(root / relative)
            labels.append(index[relative.parts[1]])
    if not paths:
        raise ConfigError(f"{path} lists no image of the classes in dataset.classes.")
    return paths, labels
