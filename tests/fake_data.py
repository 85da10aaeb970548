"""Tiny datasets written in the real on-disk formats, so readers are tested without any download.

Images are random, labels cycle through the classes, so every class is present.
"""

from __future__ import annotations

import bz2
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def _images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _labels(n: int, classes: int = 10) -> np.ndarray:
    return (np.arange(n) % classes).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_mnist(root: Path, split: str = "test", n: int = 60, gz: bool = True, folder: str = "mnist") -> np.ndarray:
    """IDX files of one split under ``root/folder``; returns the labels."""
    prefix = {"train": "train", "test": "t10k"}[split]
    suffix = ".gz" if gz else ""
    labels = _labels(n)
    write_idx(root / folder / f"{prefix}-images-idx3-ubyte{suffix}", _images(n, (28, 28), seed=n), gz)
    write_idx(root / folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
    return labels


def write_usps(root: Path, split: str = "train", n: int = 40) -> np.ndarray:
    """LIBSVM text, bzip2: ``label idx:value ...`` with label = digit + 1 and values in [-1, 1]."""
    labels = _labels(n)
    values = _images(n, (256,), seed=n) / 127.5 - 1.0
    lines = [f"{label + 1} " + " ".join(f"{i + 1}:{v:.4f}" for i, v in enumerate(row))
             for label, row in zip(labels, values)]
    path = root / "usps" / ("usps.bz2" if split == "train" else "usps.t.bz2")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    return labels


def write_svhn(root: Path, split: str = "train", n: int = 30) -> np.ndarray:
    """SVHN's .mat: X (32, 32, 3, N) uint8, y (N, 1) with the digit 0 stored as 10."""
    from scipy.io import savemat

    labels = _labels(n)
    x = _images(n, (32, 32, 3), seed=n).transpose(1, 2, 3, 0)
    y = np.where(labels == 0, 10, labels).reshape(-1, 1)
    (root / "svhn").mkdir(parents=True, exist_ok=True)
    savemat(str(root / "svhn" / f"{split}_32x32.mat"), {"X": x, "y": y})
    return labels


def write_cifar10(root: Path, n_per_batch: int = 10) -> None:
    """cifar-10-batches-py: five training batches and a test batch, each a latin-1 pickle."""
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate([f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]):
        batch = {"data": _images(n_per_batch, (3072,), seed=i), "labels": _labels(n_per_batch).tolist()}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def write_image_folder(root: Path, classes=("cat", "dog"), per_class: int = 4, size=(20, 24)) -> Path:
    """``root/<class>/<i>.png`` RGB images."""
    from PIL import Image

    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_images(1, (*size, 3), seed=10 * c + i)[0]).save(root / name / f"{i}.png")
    return root


def write_arrays(path: Path, n: int = 60, features: int = 4, classes: int = 3, shift: float = 0.0,
                 seed: int = 0, labels: bool = True) -> Path:
    """A feature table with class-dependent means, as .npz (x, y), .pt ({x, y}) or .csv (label column)."""
    import torch

    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = (rng.normal(size=(n, features)) + 2.0 * np.eye(classes, features)[y] + shift).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        np.savez(path, **({"x": x, "y": y} if labels else {"x": x}))
    elif path.suffix == ".pt":
        torch.save({"x": torch.from_numpy(x), **({"y": torch.from_numpy(y)} if labels else {})}, path)
    else:
        header = [f"f{i}" for i in range(features)] + (["label"] if labels else [])
        rows = [[f"{v:.6f}" for v in row] + ([str(c)] if labels else []) for row, c in zip(x, y)]
        path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    return path


def write_cifar_c(root: Path, corruptions=("gaussian_noise",), n: int = 6, folder: str = "CIFAR-10-C") -> np.ndarray:
    """The released CIFAR-10-C layout: ``<folder>/<corruption>.npy`` of 5 × n uint8 (32, 32, 3) images, severity
    s filling its block with the value 10 s + its corruption's index, and ``labels.npy``; returns the labels."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    labels = np.tile(_labels(n), 5)
    for i, name in enumerate(corruptions):
        images = np.repeat(10 * np.arange(1, 6, dtype=np.uint8) + i, n)[:, None, None, None] * np.ones((1, 32, 32, 3),
                                                                                                       np.uint8)
        np.save(root / folder / f"{name}.npy", images)
    np.save(root / folder / "labels.npy", labels)
    return labels


def write_imagenet_c(root: Path, corruption: str = "fog", severity: int = 3, wnids=("n01440764", "n01443537"),
                     per_class: int = 2) -> Path:
    """The released ImageNet-C layout: ``ImageNet-C/<corruption>/<severity>/<wnid>/<i>.JPEG`` RGB images."""
    from PIL import Image

    folder = root / "ImageNet-C" / corruption / str(severity)
    for c, wnid in enumerate(wnids):
        (folder / wnid).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_images(1, (24, 20, 3), seed=10 * c + i)[0]).save(folder / wnid / f"{i}.JPEG")
    return folder
