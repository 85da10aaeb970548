"""Each evaluation's predictions on the validators' target sample: ``predictions/epoch_<N>.npy``.

The softmax probabilities (float16, samples × classes, rows in the order of the fixed, seeded
sample of unlabeled target train inputs the validators score) that EnsV (:mod:`dasuite.engine.ensv`)
ensembles, within a run (``trainer.select=ensv``) and across the runs of a sweep (``dasuite report
--select ensv``). Plain .npy read with ``allow_pickle=False``: 40 kB an evaluation for 2,000
samples and 10 classes. No torch here, so the report reads them without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dasuite.safe_files import open_read, write_atomic

FOLDER = "predictions"


def predictions_file(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / FOLDER / f"epoch_{epoch:04d}.npy"


def save_predictions(path: Path, probabilities) -> None:
    """Write a (samples × classes) torch tensor of probabilities, atomically, as float16."""
    array = probabilities.detach().cpu().half().numpy()
    path = Path(path)  # <run folder>/predictions/epoch_<N>.npy: predictions/ must be a real folder of the run
    write_atomic(path, lambda f: np.save(f, array, allow_pickle=False), within=path.parent.parent)


def load_predictions(path: Path) -> np.ndarray | None:
    """The probabilities stored at ``path`` (float32), or None when the file is missing or unreadable."""
    try:
        with open_read(path) as f:  # a pipe or device there is refused (ValueError), not waited on
            array = np.load(f, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return array.astype(np.float32) if array.ndim == 2 else None
