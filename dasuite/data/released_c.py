"""The released corruption benchmarks (Hendrycks & Dietterich, ICLR 2019) as target sets, read in their
official layouts; and the CIFAR-10 → CIFAR-10-C pair (``dataset=cifar10_c``).

=============  ==============================================================  ==============================
release        files under ``data_root``                                        download
=============  ==============================================================  ==============================
CIFAR-10-C     ``CIFAR-10-C/<corruption>.npy`` (5 × 10,000 images, severity 1   ``download=true``: the Zenodo
               first, uint8 (N, 32, 32, 3)) and ``CIFAR-10-C/labels.npy``       archive, MD5-checked
CIFAR-100-C    ``CIFAR-100-C/...``, the same                                    the same
ImageNet-C     ``ImageNet-C/<corruption>/<severity>/<wnid>/<image>.JPEG``       by hand (one archive per family)
=============  ==============================================================  ==============================

The corruption names are the release's file and folder names (:data:`RELEASED_CORRUPTIONS`, the 15 of
:mod:`dasuite.data.corruptions` and the four held-out ones). ImageNet-C's classes are its wnid folders,
sorted (ImageNet's usual class order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dasuite.data.archives import Remote, fetch
from dasuite.data.cifar import CLASSES
from dasuite.data.corruptions import corruption_plan
from dasuite.data.files import corrupted, expand_root
from dasuite.data.image_pair import read_domain, role_spec
from dasuite.data.images import Preprocess, RawImages, check_image_settings, fit_images
from dasuite.data.pair import Domains, Labeled
from dasuite.errors import ConfigError

RELEASED_CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
                        "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
                        "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate")
SEVERITIES = 5


@dataclass(frozen=True)
class Release:
    folder: str  # under data_root, as the archive unpacks
    page: str  # the official download page
    archive: Remote | None  # what download=true fetches (None: by hand)


RELEASES = {
    "cifar10_c": Release("CIFAR-10-C", "https://zenodo.org/records/2535967", Remote(
        "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar", "CIFAR-10-C.tar",
        "56bf5dcef84df0e2308c6dcbcbbd8499")),
    "cifar100_c": Release("CIFAR-100-C", "https://zenodo.org/records/3555552", Remote(
        "https://zenodo.org/records/3555552/files/CIFAR-100-C.tar", "CIFAR-100-C.tar",
        "11f0ed0f1191edbf9fa23466ae6021d3")),
    "imagenet_c": Release("ImageNet-C", "https://zenodo.org/records/2235448", None),
}
#: ImageNet-C's archive on its page that holds each corruption (the four held-out ones are in extra.tar).
IMAGENET_C_ARCHIVE = {**dict.fromkeys(("gaussian_noise", "shot_noise", "impulse_noise"), "noise.tar"),
                      **dict.fromkeys(("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"), "blur.tar"),
                      **dict.fromkeys(("snow", "frost", "fog", "brightness"), "weather.tar"),
                      **dict.fromkeys(("contrast", "elastic_transform", "pixelate", "jpeg_compression"), "digital.tar")}


def _check(corruption: str, severity) -> None:
    if corruption not in RELEASED_CORRUPTIONS:
        raise ConfigError(f"dataset.corruption={corruption!r} is not a corruption of the released sets; valid: "
                          f"{', '.join(RELEASED_CORRUPTIONS)}.")
    if isinstance(severity, bool) or severity not in range(1, SEVERITIES + 1):
        raise ConfigError(f"dataset.severity={severity!r} must be an integer from 1 to {SEVERITIES}.")


def _absent(title: str, expected: list[Path], release: Release, how: str) -> ConfigError:
    return ConfigError(f"{title} not found: expected {'; '.join(str(p) for p in expected)}. It is the released set "
                       f"from its official page {release.page}: {how} Or point data_root= at the folder that holds "
                       f"{release.folder}/.")


def read_cifar_c(data_root, corruption: str, severity: int, release: str = "cifar10_c",
                 download: bool = False) -> RawImages:
    """One corruption at one severity of CIFAR-10-C or CIFAR-100-C (``release``): the ``severity``-th fifth of
    ``<corruption>.npy`` and of ``labels.npy``, as uint8 (N, 3, 32, 32). Class names: CIFAR-10's; CIFAR-100's
    label numbers."""
    _check(corruption, severity)
    info = RELEASES[release]
    root = expand_root(data_root)
    folder = root / info.folder
    images_path, labels_path = folder / f"{corruption}.npy", folder / "labels.npy"
    if download and not (images_path.is_file() and labels_path.is_file()):
        fetch(info.archive, root)
    if not (images_path.is_file() and labels_path.is_file()):
        raise _absent(f"{info.folder} {corruption}", [images_path, labels_path], info,
                      f"set download=true to fetch {info.archive.file} (about 3 GB, MD5-checked), or unpack it "
                      f"under {root} by hand.")
    try:
        images, labels = np.load(images_path, mmap_mode="r"), np.load(labels_path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise corrupted(images_path, f"not a NumPy .npy array ({error})") from error
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(images) % SEVERITIES:
        raise corrupted(images_path, f"holds {images.dtype} {images.shape}, not uint8 (5 × N, H, W, 3) images")
    if labels.shape != (len(images),):
        raise corrupted(labels_path, f"holds {labels.shape} labels for the {len(images)} images of {images_path.name}")
    n = len(images) // SEVERITIES
    block = slice((severity - 1) * n, severity * n)
    x = torch.from_numpy(np.ascontiguousarray(images[block].transpose(0, 3, 1, 2)))
    y = torch.from_numpy(np.asarray(labels[block]).astype(np.int64))
    return RawImages(x, y, CLASSES if release == "cifar10_c" else [str(c) for c in range(100)])


def imagenet_c_files(data_root, corruption: str, severity: int) -> tuple[list[Path], list[int], list[str]]:
    """The image paths, labels and classes (sorted wnids) of one ImageNet-C corruption at one severity."""
    _check(corruption, severity)
    info = RELEASES["imagenet_c"]
    folder = expand_root(data_root) / info.folder / corruption / str(severity)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    paths, labels = [], []
    for label, wnid in enumerate(classes):
        found = sorted(p for p in (folder / wnid).iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
        paths += found
        labels += [label] * len(found)
    if not paths:
        archive = IMAGENET_C_ARCHIVE.get(corruption, "extra.tar")
        raise _absent(f"ImageNet-C {corruption} severity {severity}", [folder / "<wnid>" / "<image>.JPEG"], info,
                      f"download {archive} there and unpack it under {folder.parent.parent} (download=true is not "
                      "offered: each archive is tens of GB).")
    return paths, labels, classes


def read_imagenet_c(data_root, corruption: str, severity: int, image_size: int = 224, channels: int = 3,
                    workers: int = 2, memory_limit_mb: int = 2048, strict: bool = False) -> tuple[Labeled, list[str]]:
    """One ImageNet-C corruption at one severity as a labeled set (decoded into memory when it fits in
    ``memory_limit_mb``, else streamed from disk), and its classes."""
    from dasuite.data.folder import fits_in_memory, load_images

    paths, labels, classes = imagenet_c_files(data_root, corruption, severity)
    in_memory = fits_in_memory(len(paths), image_size, channels, memory_limit_mb)
    return load_images(paths, labels, image_size, channels, workers, in_memory, strict,
                       f"ImageNet-C {corruption} {severity}"), classes


def cifar_c_pair(source, corruption="gaussian_noise", severity: int | list = 5, data_root="~/.cache/dasuite",
                 download: bool = False, image_size: int = 32, channels: int = 3, mean=(0.5,), std=(0.5,),
                 augment: str = "none") -> Domains:
    """CIFAR-10 (the ``source`` role, clean) → the released CIFAR-10-C: target train and target test are both
    ``corruption`` at ``severity`` (a list, or ``all``: the sets one after the other, a continual stream)."""
    check_image_settings(image_size, channels)
    plan = corruption_plan(corruption, severity, RELEASED_CORRUPTIONS)
    clean = read_domain(*role_spec("source", source), data_root, download)
    if len(clean.class_names) != 10:
        raise ConfigError(f"dataset.source={dict(source)} has {len(clean.class_names)} classes; CIFAR-10-C has the "
                          "10 of CIFAR-10 (dataset.source.name=cifar10).")
    sets = [read_cifar_c(data_root, name, level, "cifar10_c", download) for name, level in plan]
    target = Labeled(torch.cat([fit_images(s.x, image_size, channels) for s in sets]), torch.cat([s.y for s in sets]))
    return Domains(source=Labeled(fit_images(clean.x, image_size, channels), clean.y), target=target,
                   target_test=target, num_classes=10, input_shape=(channels, image_size, image_size),
                   class_names=clean.class_names, preprocess=Preprocess(mean, std, augment, channels),
                   target_test_segments=[(f"{name}_{level}", len(s.y)) for (name, level), s in zip(plan, sets)])
