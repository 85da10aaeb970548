"""Digit domains: MNIST (IDX files), USPS (LIBSVM bz2), SVHN (.mat) and MNIST-M (PNGs), as uint8 tensors.

Each reader takes ``data_root``, a split (``train`` or ``test``) and ``download``, and returns
:class:`~dasuite.data.images.RawImages`. Files are looked for where torchvision keeps them and in
the plain layout below; ``download=true`` calls torchvision's own download (MNIST-M: the released
``mnist_m.tar.gz``, checked against its published MD5, as pytorch-adapt's ``MNISTM`` fetches it).

=======  ==========================================================  ==============================
domain   files                                                        looked for in
=======  ==========================================================  ==============================
mnist    ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``        ``mnist/``, ``MNIST/raw/``
usps     ``usps.bz2`` (train), ``usps.t.bz2`` (test)                  ``usps/``
svhn     ``train_32x32.mat``, ``test_32x32.mat``                      ``svhn/``
mnistm   ``mnist_m_{train,test}/*.png``, ``mnist_m_{train,test}_labels.txt``  ``mnist_m/``
=======  ==========================================================  ==============================

MNIST is read from the IDX files of the requested split alone, so a folder holding only the
10k test split works (torchvision's MNIST class wants both).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from dasuite.data.archives import Remote, fetch as fetch_remote
from dasuite.data.images import RawImages
from dasuite.data.files import corrupted, download as fetch, expand_root, first_existing, missing

DIGITS = [str(d) for d in range(10)]
_MNIST_PREFIX = {"train": "train", "test": "t10k"}
_IDX_DTYPE = {0x08: np.uint8}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped): magic 0x0000TTDD, DD big-endian int32 dims, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise corrupted(path, f"cannot read it ({error})") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPE or len(data) < 4 + 4 * data[3]:
        raise corrupted(path, "no IDX header of unsigned bytes")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise corrupted(path, f"header says {tuple(dims)} = {int(np.prod(dims))} values, file has {body.size}")
    return body.reshape(tuple(int(d) for d in dims))


def read_mnist(data_root, split: str, download: bool = False) -> RawImages:
    root = expand_root(data_root)
    prefix = _MNIST_PREFIX[split]
    folders = [root / "mnist", root / "MNIST" / "raw"]

    def locate(prefix: str) -> dict:
        found = {}
        for kind in ("images-idx3", "labels-idx1"):
            names = [f"{prefix}-{kind}-ubyte.gz", f"{prefix}-{kind}-ubyte"]
            found[kind] = first_existing([folder / name for folder in folders for name in names])
        return found

    found = locate(prefix)
    if None in found.values() and download:
        from torchvision.datasets import MNIST

        fetch("MNIST", lambda: MNIST(str(root), train=split == "train", download=True))
        found = locate(prefix)
    if None in found.values():
        other = "test" if split == "train" else "train"
        hint = (f"The {other} split is there: to use it, set split: {other} for this role "
                f"(e.g. dataset.source.split={other}). ") if None not in locate(_MNIST_PREFIX[other]).values() else ""
        raise missing(f"MNIST {split} split",
                      [f / f"{prefix}-images-idx3-ubyte.gz" for f in folders]
                      + [f / f"{prefix}-labels-idx1-ubyte.gz" for f in folders], hint)
    images, labels = read_idx(found["images-idx3"]), read_idx(found["labels-idx1"])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise corrupted(found["images-idx3"], f"{images.shape} images do not match {labels.shape} labels")
    return RawImages(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)),
                     DIGITS)


def read_usps(data_root, split: str, download: bool = False) -> RawImages:
    folder = expand_root(data_root) / "usps"
    path = folder / ("usps.bz2" if split == "train" else "usps.t.bz2")
    from torchvision.datasets import USPS

    if not path.is_file():
        if not download:
            raise missing(f"USPS {split} split", [path])
        fetch("USPS", lambda: USPS(str(folder), train=split == "train", download=True))
    try:
        dataset = USPS(str(folder), train=split == "train", download=False)
    except (OSError, EOFError, ValueError, IndexError) as error:
        raise corrupted(path, f"not LIBSVM text of 256 values per line ({type(error).__name__}: {error})") from error
    labels = torch.tensor(dataset.targets, dtype=torch.int64)
    return RawImages(torch.from_numpy(dataset.data).unsqueeze(1), labels, DIGITS)


def read_svhn(data_root, split: str, download: bool = False) -> RawImages:
    folder = expand_root(data_root) / "svhn"
    path = folder / f"{split}_32x32.mat"
    if not path.is_file():
        if not download:
            raise missing(f"SVHN {split} split", [path])
        from torchvision.datasets import SVHN

        fetch("SVHN", lambda: SVHN(str(folder), split=split, download=True))
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(str(path))
        x, y = mat["X"], mat["y"]
    except (OSError, ValueError, KeyError, MatReadError) as error:
        raise corrupted(path, f"not an SVHN .mat file with X and y ({type(error).__name__}: {error})") from error
    labels = torch.from_numpy(y.astype(np.int64).reshape(-1))
    labels[labels == 10] = 0  # SVHN stores the digit 0 as class 10
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))  # (H, W, C, N) -> (N, C, H, W)
    return RawImages(images, labels, DIGITS)


#: The released MNIST-M archive (Ganin's Google Drive file, mirrored by pytorch-adapt) and its published MD5.
MNISTM_ARCHIVE = Remote("https://cornell.box.com/shared/static/jado7quprg6hzzdubvwzh9umr75damwi", "mnist_m.tar.gz",
                        "859df31c91afe82e80e5012ba928f279")


def read_mnistm(data_root, split: str, download: bool = False) -> RawImages:
    """The released MNIST-M: ``mnist_m/mnist_m_<split>/<file>.png`` listed with labels in
    ``mnist_m/mnist_m_<split>_labels.txt`` (``<file> <digit>`` per line)."""
    from dasuite.data.folder import decode

    root = expand_root(data_root)
    folder = root / "mnist_m"
    labels_file, images = folder / f"mnist_m_{split}_labels.txt", folder / f"mnist_m_{split}"
    if not labels_file.is_file() and download:
        fetch_remote(MNISTM_ARCHIVE, root)
    if not labels_file.is_file():
        raise missing(f"MNIST-M (released) {split} split", [labels_file, images / "*.png"],
                      f"It is {MNISTM_ARCHIVE.file} unpacked under {root}. ")
    rows = [line.split() for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        labels = torch.tensor([int(row[1]) for row in rows], dtype=torch.int64)
        x = torch.stack([decode(images / row[0], 32, 3) for row in rows])
    except (IndexError, ValueError, OSError) as error:
        raise corrupted(labels_file, f"its lines must read '<file>.png <digit>' of images in {images} "
                                     f"({type(error).__name__}: {error})") from error
    return RawImages(x, labels, DIGITS)
