"""Your own images: a source and a target folder in ImageFolder layout (``<dir>/<class>/<image>``).

This is the Office-31 / Office-Home layout. The class folders of the two domains must match. By
the usual UDA protocol the whole target folder is both the unlabeled target train set and the
test set, unless ``dataset.target_test_dir`` names a separate folder.

Images are decoded, resized (shorter side to ``image_size``, then a centre crop) and, when they fit
in ``dataset.memory_limit_mb``, held in memory as one uint8 tensor like the digit datasets; an
unreadable file is then skipped and counted (or an error with ``dataset.strict=true``). Larger
folders stay on disk and are decoded by DataLoader workers (``dataset.workers``) while training;
there an unreadable file always stops the run with its path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from dasuite.data.files import expand_root
from dasuite.data.images import Preprocess, check_image_settings
from dasuite.data.pair import Domains, Labeled
from dasuite.errors import ConfigError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def decode(path: Path, size: int, channels: int, squash: bool = False) -> torch.Tensor:
    """One image file as uint8 (channels, size, size): shorter side resized, centre-cropped; ``squash``:
    resized to size×size whatever its aspect (Transfer-Learning-Library's ``ResizeImage``)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB" if channels == 3 else "L")
        if squash:
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        else:
            scale = size / min(image.size)
            width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            left, top = (width - size) // 2, (height - size) // 2
            image = image.crop((left, top, left + size, top + size))
        array = np.asarray(image, dtype=np.uint8).reshape(size, size, channels)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


class LazyImages(torch.utils.data.Dataset):
    """Image files decoded on access (by DataLoader workers during training)."""

    def __init__(self, paths: list[Path], size: int, channels: int, workers: int, squash: bool = False):
        self.paths, self.size, self.channels, self.workers, self.squash = paths, size, channels, workers, squash

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, torch.Tensor) and index.ndim == 1:
            return LazyImages([self.paths[int(i)] for i in index], self.size, self.channels, self.workers,
                              self.squash)
        path = self.paths[int(index)]
        try:
            return decode(path, self.size, self.channels, self.squash)
        except OSError as error:
            raise ConfigError(f"cannot decode the image {path}: {error}. Remove or replace it.") from error


def scan(directory, key: str) -> dict[str, list[Path]]:
    """Class name -> sorted image paths of an ImageFolder tree."""
    if directory is None:
        raise ConfigError(f"dataset=folder needs dataset.{key}=<folder>, with one sub-folder of images per class "
                          "(<dir>/<class>/<image>, the Office-31 layout).")
    root = expand_root(directory)
    if not root.is_dir():
        raise ConfigError(f"dataset.{key}={directory} is not a folder; it must hold one sub-folder of images "
                          "per class (<dir>/<class>/<image>, the Office-31 layout).")
    classes = {d.name: sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
               for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    empty = [name for name, paths in classes.items() if not paths]
    if not classes or empty:
        raise ConfigError(f"dataset.{key}={directory} needs images ({', '.join(IMAGE_SUFFIXES)}) in every class "
                          f"folder; {'empty: ' + ', '.join(empty) if empty else 'it has no class folders'}.")
    return classes


def folder_pair(source_dir=None, target_dir=None, target_test_dir=None, image_size: int | str = 224,
                channels: int = 3, mean=IMAGENET_MEAN, std=IMAGENET_STD, augment: str = "crop_flip",
                memory_limit_mb: int = 2048, workers: int = 2, strict: bool = False) -> Domains:
    """Source and target ImageFolder trees as a pair (see the module docstring). ``image_size=auto``: the
    images' own size, the shorter side of the first source image (28 for a folder of MNIST digits)."""
    trees = {"source_dir": scan(source_dir, "source_dir"), "target_dir": scan(target_dir, "target_dir")}
    if image_size == "auto":
        image_size = own_size(next(iter(trees["source_dir"].values()))[0])
    check_image_settings(image_size, channels)
    if target_test_dir is not None:
        trees["target_test_dir"] = scan(target_test_dir, "target_test_dir")
    names = list(trees["source_dir"])
    if len(names) < 2:
        raise ConfigError(f"dataset.source_dir={source_dir} has a single class folder ({names[0]}); classification "
                          "needs two or more: one sub-folder of images per class (<dir>/<class>/<image>).")
    for key, tree in trees.items():
        if list(tree) != names:
            only_source = sorted(set(names) - set(tree))
            only_here = sorted(set(tree) - set(names))
            raise ConfigError(f"the class folders of dataset.{key} do not match dataset.source_dir: "
                              f"only in source_dir: {only_source or 'none'}; only in {key}: {only_here or 'none'}.")
    n_images = sum(len(paths) for tree in trees.values() for paths in tree.values())
    in_memory = fits_in_memory(n_images, image_size, channels, memory_limit_mb)
    sets = {}
    for key, tree in trees.items():
        paths = [p for plist in tree.values() for p in plist]
        labels = [c for c, plist in enumerate(tree.values()) for _ in plist]
        sets[key] = load_images(paths, labels, image_size, channels, workers, in_memory, strict, f"dataset.{key}")
    return Domains(source=sets["source_dir"], target=sets["target_dir"],
                   target_test=sets.get("target_test_dir", sets["target_dir"]), num_classes=len(names),
                   input_shape=(channels, image_size, image_size), class_names=names,
                   preprocess=Preprocess(mean, std, augment, channels))


def own_size(path: Path) -> int:
    """The shorter side of an image file, in pixels."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return min(image.size)
    except OSError as error:
        raise ConfigError(f"dataset.image_size=auto reads the size of {path}, which cannot be decoded ({error}); "
                          "set dataset.image_size=N.") from error


def fits_in_memory(n_images: int, size: int, channels: int, memory_limit_mb: int) -> bool:
    return n_images * channels * size ** 2 <= memory_limit_mb * 2 ** 20


def load_images(paths: list[Path], labels: list[int], size: int, channels: int, workers: int, in_memory: bool,
                strict: bool, what: str, squash: bool = False) -> Labeled:
    """Labeled image files, decoded now (``in_memory``) or by DataLoader workers while training.

    ``what`` names the set in messages (``dataset.source_dir``, ``Office-31 amazon``).
    """
    labels = torch.tensor(labels, dtype=torch.int64)
    if not in_memory:
        return Labeled(LazyImages(paths, size, channels, workers, squash), labels)
    images, keep = [], []
    for i, path in enumerate(paths):
        try:
            images.append(decode(path, size, channels, squash))
            keep.append(i)
        except OSError as error:
            if strict:
                raise ConfigError(f"cannot decode the image {path} ({error}); dataset.strict=true stops here. "
                                  "Remove the file, or set dataset.strict=false to skip unreadable images.") from error
    skipped = len(paths) - len(keep)
    if skipped:
        log.warning("%s: skipped %d unreadable image file(s) of %d", what, skipped, len(paths))
    if not images:
        raise ConfigError(f"no image under {what} could be decoded.")
    return Labeled(torch.stack(images), labels[torch.tensor(keep)])
