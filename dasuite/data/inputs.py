"""The inputs of ``dasuite predict``: image files or an array file, checked against the model's input.

Returns the input ids and a stream of raw batches (in the form the pair stores its data, before
the pair's preprocessing): uint8 (N, C, H, W) images, or float (N, features) rows. A .csv's first
row names its columns, unless ``header=false``; with ``header=auto`` a first row of numbers only is
an error (it is data, which a header row would silently drop).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from dasuite.data.arrays import SUFFIXES as ARRAY_SUFFIXES
from dasuite.data.arrays import read_table
from dasuite.data.folder import IMAGE_SUFFIXES, decode
from dasuite.errors import ConfigError

if TYPE_CHECKING:  # the model is read, not built, here: dasuite.data imports no config machinery
    from dasuite.models.trained import TrainedModel


def read_inputs(source: Path, model: TrainedModel, batch_size: int,
                header: str = "auto") -> tuple[list[str], Iterator[torch.Tensor]]:
    """Ids (image paths relative to the folder, or row numbers) and raw batches of ``source``; ``header``
    (auto, true, false): whether a .csv's first row names its columns."""
    if source.is_dir() or source.suffix.lower() in IMAGE_SUFFIXES:
        return _images(source, model, batch_size)
    return _array(source, model, batch_size, header)


def _images(source: Path, model: TrainedModel, batch_size: int):
    what = "an image folder" if source.is_dir() else "an image"
    if not model.takes_images:
        raise ConfigError(f"input={source} is {what}, but the run's model takes vectors of shape "
                          f"{model.input_shape}; give an array file (.npy, .npz, .pt or .csv) with one input per row.")
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise ConfigError(f"input={source} holds no image files ({', '.join(IMAGE_SUFFIXES)}).")
        ids = [p.relative_to(source).as_posix() for p in paths]
    else:
        paths, ids = [source], [source.name]
    channels, loading = model.input_shape[0], model.image_loading  # as the pair stored its images

    def batches():
        for start in range(0, len(paths), batch_size):
            images = []
            for path in paths[start: start + batch_size]:
                try:
                    images.append(decode(path, loading["size"], channels, loading["squash"]))
                except OSError as error:
                    raise ConfigError(f"cannot decode the image {path}: {error}. Remove or replace it.") from error
            yield torch.stack(images)

    return ids, batches()


def _array(source: Path, model: TrainedModel, batch_size: int, header: str):
    if source.suffix.lower() not in ARRAY_SUFFIXES:
        raise ConfigError(f"input={source}: unknown file type {source.suffix or '(none)'!r}; give an image folder, an "
                          f"image file ({', '.join(IMAGE_SUFFIXES)}) or an array file ({', '.join(ARRAY_SUFFIXES)}).")
    is_csv = source.suffix.lower() == ".csv"
    if is_csv and header == "false":
        x = _headerless(source)
    else:
        if is_csv and header == "auto":
            _check_header(source, model.feature_names)
        table = read_table(source, "input", model.config.dataset.get("label_column", "label"))
        x = table.x if table.columns is None else _by_name(source, table, model.feature_names)
    shape = model.input_shape
    if model.takes_images and x.ndim == 3 and shape[0] == 1:  # (N, H, W) grayscale
        x = x.unsqueeze(1)
    if tuple(x.shape[1:]) != shape:
        raise ConfigError(_shape_error(source, tuple(x.shape[1:]), shape))
    if model.takes_images:
        if not (torch.equal(x, x.round()) and x.min() >= 0 and x.max() <= 255):
            raise ConfigError(f"input={source} holds values in [{x.min():g}, {x.max():g}]; an image model takes raw "
                              "pixel values, integers 0..255 (as uint8), and normalises them itself. Scale the "
                              "array (e.g. x * 255 for values in [0, 1]).")
        x = x.to(torch.uint8)
    return [str(i) for i in range(len(x))], (x[i: i + batch_size] for i in range(0, len(x), batch_size))


def _check_header(source: Path, names: list[str] | None) -> None:
    """A ConfigError when the first row holds only numbers (and is not the training columns' names)."""
    import csv

    with open(source, newline="", encoding="utf-8-sig") as f:
        first = [cell.strip() for cell in next(csv.reader(f), [])]
    if first and first != names and all(map(_is_number, first)):
        shown = ", ".join(first[:6]) + (", ..." if len(first) > 6 else "")
        raise ConfigError(f"input={source}: its first row ({shown}) holds only numbers, so it looks like data, not a "
                          "header of column names; read as a header it would be dropped and its numbers taken for "
                          "names. Give header=false to read every row as an input, columns in the order the model "
                          "was trained on" + (f" ({', '.join(names)[:200]})" if names else "")
                          + ", or add a header row naming the columns.")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _headerless(source: Path) -> torch.Tensor:
    """A .csv without a header row: every row an input, every column a feature."""
    import warnings

    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            x = torch.from_numpy(np.loadtxt(source, delimiter=",", dtype=np.float32, ndmin=2, encoding="utf-8-sig"))
    except ValueError as error:
        raise ConfigError(f"input={source} (header=false): {str(error).rstrip('.')} (rows counted from 0). Every cell "
                          "must be a number; an empty cell is a missing value: fill or drop that row.") from None
    if len(x) == 0:
        raise ConfigError(f"input={source} holds no rows.")
    if not torch.isfinite(x).all():
        raise ConfigError(f"input={source} has NaN or infinite values (first in row "
                          f"{int(torch.nonzero(~torch.isfinite(x).all(1))[0])}); fill or drop them first.")
    return x


def _by_name(source: Path, table, names: list[str] | None) -> torch.Tensor:
    """A .csv input's features in the order the model was trained on, matched by column name."""
    if names is None or table.columns == names:  # the model was not trained on a .csv: widths decide
        return table.x
    missing = [c for c in names if c not in table.columns]
    extra = [c for c in table.columns if c not in names]
    if missing or extra:
        raise ConfigError(f"input={source} has feature columns {', '.join(table.columns)[:300]}, but the run's model "
                          f"was trained on {', '.join(names)[:300]}"
                          + (f"; missing: {', '.join(missing)[:200]}" if missing else "")
                          + (f"; not in training: {', '.join(extra)[:200]}" if extra else "")
                          + ". Give the training files' feature columns (in any order).")
    return table.x[:, [table.columns.index(c) for c in names]]


def _shape_error(source: Path, got: tuple[int, ...], shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return (f"input={source} has rows of shape {got}, but the run's model takes {shape[0]} features per row; "
                "use the training files' feature columns, in the same order.")
    channels, height, width = shape
    message = (f"input={source} holds images of shape {got}, but the run's model takes {channels}×{height}×{width} "
               "(channels, height, width)")
    if got == (height, width, channels):
        return message + ": the array is channels-last; transpose it with x.transpose(0, 3, 1, 2)."
    if got == (height, width):
        return (message + f": the array has no channel axis (grayscale) and the model takes {channels} channels. "
                "Convert the images first, or pass image files, which are converted.")
    if len(got) == 3 and got[0] != channels:
        return (message + f": {got[0]} channel(s) instead of {channels}. Convert the images first (grayscale / RGB), "
                "or pass image files, which are converted.")
    return message + f": resize them to {height}×{width}, or pass image files, which are resized."
