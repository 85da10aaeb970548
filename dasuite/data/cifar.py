"""CIFAR-10 from its python pickle batches (the ``cifar10_shifted`` pair: :mod:`dasuite.data.corrupted`).

Files: ``<data_root>/cifar10/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``
(torchvision's layout; ``download=true`` calls torchvision's CIFAR10 download). A batch is read with
:class:`BatchUnpickler`, which builds dicts, lists, strings, numbers and NumPy arrays only: a file
that names anything else (a pickle can call any function) is refused, not run.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import torch

from dasuite.data.files import corrupted, download as fetch, expand_root, missing
from dasuite.data.images import RawImages

#: The globals a CIFAR batch pickle needs: NumPy array reconstruction (numpy.core is numpy._core since
#: NumPy 2; _frombuffer is pickle protocol 5's form) and _codecs.encode (bytes in a protocol-2 pickle).
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class BatchUnpickler(pickle.Unpickler):
    """Unpickles what a CIFAR batch holds and refuses any other global (which a pickle would call)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR batch never holds (refused: "
                                         "unpickling it could run code)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core, which NumPy 2 calls numpy._core
            return super().find_class(module, name)


def read_cifar10(data_root, split: str, download: bool = False) -> RawImages:
    root = expand_root(data_root) / "cifar10"
    folder = root / "cifar-10-batches-py"
    paths = [folder / name for name in _FILES[split]]
    if not all(p.is_file() for p in paths):
        if not download:
            raise missing(f"CIFAR-10 {split} split", paths)
        from torchvision.datasets import CIFAR10

        fetch("CIFAR-10", lambda: CIFAR10(str(root), train=split == "train", download=True))
    images, labels = [], []
    for path in paths:
        try:
            with open(path, "rb") as f:
                batch = BatchUnpickler(f, encoding="latin1").load()
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch["labels"])
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, IndexError, AttributeError, ValueError, TypeError,
                OverflowError) as error:
            raise corrupted(path, f"not a CIFAR-10 pickle batch ({type(error).__name__}: {error})") from error
    return RawImages(torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64), CLASSES)
