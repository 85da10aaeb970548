"""Your own feature tables or embeddings as a pair: ``dataset=arrays dataset.source=... dataset.target=...``.

Each file is ``.npz`` or ``.pt`` holding ``x`` (N, features) and ``y`` (N,), or ``.csv`` with a header
row, one label column (``dataset.label_column``) and numeric feature columns (or ``.npy``: features
only). Labels may be integers or names; the classes are the source's labels, sorted (numerically
when they are all integers).

The target train file may come without labels (no ``y``, no label column, ``.npy``): it is then used
unlabeled and ``dataset.target_test`` must name a labeled file to measure accuracy on. Without
``dataset.target_test`` the target file's labels measure target accuracy (the usual UDA protocol:
they never reach training, except the ``target_labels_per_class`` samples drawn on request, which
are then left out of the evaluation).

Features are standardised per column with the mean and standard deviation of the source file only
(:class:`Standardize`, the pair's preprocessing, so a checkpoint carries the statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dasuite.data.files import expand_root
from dasuite.data.pair import Domains, Labeled
from dasuite.errors import ConfigError

SUFFIXES = (".npz", ".pt", ".csv", ".npy")


@dataclass
class Table:
    """One file's features (float32), raw labels (None when the file has none) and, for a .csv, the
    names of its feature columns."""

    x: torch.Tensor
    labels: list[str] | None
    columns: list[str] | None = None


class Standardize:
    """``(x - mean) / std`` per feature; ``mean`` and ``std`` are the source's."""

    def __init__(self, mean, std):
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.std = torch.as_tensor(std, dtype=torch.float32)

    @classmethod
    def fit(cls, x: torch.Tensor) -> Standardize:
        """Statistics of ``x`` (N, ...); a constant feature keeps std 1, so it maps to 0."""
        std = x.std(0, unbiased=False)
        return cls(x.mean(0), torch.where(std > 0, std, torch.ones_like(std)))

    def __call__(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        return (x.to(torch.float32) - self.mean.to(x.device)) / self.std.to(x.device)

    def config(self) -> dict:
        """Enough to rebuild it with ``hydra.utils.instantiate`` (stored in checkpoints)."""
        return {"_target_": f"{__name__}.Standardize", "mean": self.mean.tolist(), "std": self.std.tolist()}

    def describe(self) -> str:
        return "x -> (x - mean) / std per feature, with the source file's mean and std (listed here)"


def read_table(path, key: str, label_column: str) -> Table:
    """Features and labels of one file; errors name it as ``key=path`` (``key``: e.g. ``dataset.source``)."""
    file = expand_root(path)
    if file.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{key}={path}: unknown file type {file.suffix or '(none)'!r}; use one of "
                          f"{', '.join(SUFFIXES)}.")
    if not file.is_file():
        raise ConfigError(f"{key}={path} does not exist.")
    reader = {".npz": _read_npz, ".pt": _read_pt, ".csv": _read_csv, ".npy": _read_npy}[file.suffix.lower()]
    x, labels, *columns = reader(file, key, label_column)
    if x.ndim < 2 or len(x) == 0:
        raise ConfigError(f"{key}={path}: x has shape {tuple(x.shape)}; it must be (rows, features) with "
                          "at least one row.")
    if labels is not None and len(labels) != len(x):
        raise ConfigError(f"{key}={path}: {len(x)} rows of features but {len(labels)} labels.")
    bad = ~torch.isfinite(x.reshape(len(x), -1)).all(1)
    if bad.any():
        rows = torch.nonzero(bad).flatten()
        raise ConfigError(f"{key}={path} has NaN or infinite features in {len(rows)} row(s) (first: row "
                          f"{int(rows[0])}); fill or drop them first.")
    return Table(x, labels, *columns)


def _read_npy(file: Path, key: str, label_column: str):
    try:
        x = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{key}={file} is not a readable .npy file ({error}).") from error
    return _from_arrays(file, key, {"x": x})


def _read_npz(file: Path, key: str, label_column: str):
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise ConfigError(f"{key}={file} is not a readable .npz file ({error}).") from error
    return _from_arrays(file, key, arrays)


def _read_pt(file: Path, key: str, label_column: str):
    try:
        data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickle/zip errors of many types: all mean "not a tensor file"
        raise ConfigError(f"{key}={file} is not a readable .pt file of tensors ({error}).") from error
    if isinstance(data, torch.Tensor):
        data = {"x": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{key}={file} holds a {type(data).__name__}; save a dict "
                          "{'x': features, 'y': labels} (or the features tensor alone) with torch.save.")
    return _from_arrays(file, key, {name: np.asarray(value) for name, value in data.items()})


def _from_arrays(file: Path, key: str, arrays: dict):
    if "x" not in arrays:
        raise ConfigError(f"{key}={file} has no array 'x' (it has: {', '.join(arrays) or 'none'}); store "
                          "the features as x and the labels as y.")
    x = arrays["x"]
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ConfigError(f"{key}={file}: x has dtype {x.dtype}; features must be numbers.")
    return torch.from_numpy(x.astype(np.float32)), _label_strings(file, key, arrays.get("y"))


def _label_strings(file: Path, key: str, y) -> list[str] | None:
    """Labels as canonical strings ("3" for 3 and 3.0), so files of different types agree."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim > 1 and y.size != len(y):
        raise ConfigError(f"{key}={file}: y has shape {y.shape}; labels must be one per row, shape (rows,): class "
                          "indices or names (for one-hot labels store y.argmax(1)).")
    y = y.reshape(-1)
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise ConfigError(f"{key}={file}: y holds non-integer or NaN values; labels must be integers "
                              "or class names.")
        y = y.astype(np.int64)
    if np.issubdtype(y.dtype, np.number):
        return [str(int(v)) for v in y]
    if y.dtype.kind == "U":
        return [str(v).strip() for v in y]
    raise ConfigError(f"{key}={file}: y has dtype {y.dtype}; labels must be integers or strings.")


def _read_csv(file: Path, key: str, label_column: str):
    import csv
    import warnings

    with open(file, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" starts with a BOM
        header = next(csv.reader(f), None)
    if not header:
        raise ConfigError(f"{key}={file} is empty; a .csv needs a header row and one row per sample.")
    header = [name.strip() for name in header]
    features = [i for i, name in enumerate(header) if name != label_column]
    if not features:
        raise ConfigError(f"{key}={file} has no feature columns besides '{label_column}'.")
    options = {"delimiter": ",", "skiprows": 1, "quotechar": '"', "ndmin": 2}
    try:
        with warnings.catch_warnings():  # a header-only file: read_table says so in its own words
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            x = np.loadtxt(file, usecols=features, dtype=np.float32, **options)
            labels = None
            if label_column in header:
                column = np.loadtxt(file, usecols=[header.index(label_column)], dtype=str, **options)
                labels = [v.strip() for v in column.reshape(-1)]
    except ValueError as error:
        raise ConfigError(f"{key}={file}: {str(error).rstrip('.')} (rows counted from 0 after the header). Every "
                          f"column but '{label_column}' (dataset.label_column) must hold numbers; an empty cell is "
                          "a missing value: fill or drop that row.") from error
    return torch.from_numpy(x), _canonical(labels), [header[i] for i in features]


def _canonical(labels: list[str] | None) -> list[str] | None:
    """Integer-valued label strings ("3", "3.0") as "3"; names unchanged."""
    if labels is None:
        return None
    try:
        numbers = [float(v) for v in labels]
    except ValueError:
        return labels
    if all(n.is_integer() for n in numbers):
        return [str(int(n)) for n in numbers]
    return labels


def _classes(labels: list[str]) -> list[str]:
    """Sorted class names: numerically when every label is an integer."""
    names = set(labels)
    try:
        return sorted(names, key=int)
    except ValueError:
        return sorted(names)


def _encode(table: Table, classes: list[str], key: str, path) -> Labeled:
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(table.labels) - set(index))
    if unknown:
        raise ConfigError(f"dataset.{key}={path} has labels the source never had: {', '.join(unknown[:10])}"
                          f"{' ...' if len(unknown) > 10 else ''}. The source classes are: {', '.join(classes)}.")
    return Labeled(table.x, torch.tensor([index[v] for v in table.labels], dtype=torch.int64))


def arrays_pair(source=None, target=None, target_test=None, label_column: str = "label",
                standardize: bool = True) -> Domains:
    """Source, target (and target test) files as a pair (see the module docstring)."""
    paths = {"source": source, "target": target}
    if target_test is not None:
        paths["target_test"] = target_test
    for key, path in paths.items():
        if path is None:
            raise ConfigError(f"dataset=arrays needs dataset.{key}=<file>: .npz or .pt with arrays x and y, .csv "
                              f"with a '{label_column}' column (dataset.label_column), or .npy features.")
    tables = {key: read_table(path, f"dataset.{key}", label_column) for key, path in paths.items()}
    shape = tuple(tables["source"].x.shape[1:])
    columns = tables["source"].columns
    if tables["source"].labels is None:
        if columns is not None:  # a .csv without the label column: every column was read as a feature
            likely = [c for c in columns if c.lower() in ("target", "class", "labels", "y", "category", "label")]
            hint = f", e.g. dataset.label_column={likely[0]}" if likely else ""
            raise ConfigError(f"dataset.source={source} has no label column '{label_column}' (dataset.label_column); "
                              f"its columns are {', '.join(columns)[:300]}. Name the column that holds the labels"
                              f"{hint}.")
        raise ConfigError(f"dataset.source={source} has no labels: store them as y (.npz/.pt) or in a "
                          f"'{label_column}' column (.csv; dataset.label_column names it).")
    for key, table in tables.items():
        if tuple(table.x.shape[1:]) != shape:
            raise ConfigError(f"dataset.{key}={paths[key]} has features of shape {tuple(table.x.shape[1:])}, the "
                              f"source {shape}: every file needs the same feature columns, in the same order.")
        if columns is not None and table.columns is not None and table.columns != columns:
            how = ("the same columns in another order" if sorted(table.columns) == sorted(columns) else
                   f"columns the source lacks ({', '.join(c for c in table.columns if c not in columns)[:200]})")
            raise ConfigError(f"dataset.{key}={paths[key]} has {how}: its feature columns are "
                              f"{', '.join(table.columns)[:300]}; the source's are {', '.join(columns)[:300]}. Every "
                              ".csv needs the same feature columns, in the same order.")
    evaluated = "target_test" if target_test is not None else "target"
    if tables[evaluated].labels is None:
        hint = "it has" if target_test is not None else "without dataset.target_test, the target file's labels are"
        raise ConfigError(f"dataset.{evaluated}={paths[evaluated]} has no labels, but {hint} what measures target "
                          f"accuracy: add y / a '{label_column}' column, or give a labeled dataset.target_test=<file>.")
    classes = _classes(tables["source"].labels)
    if len(classes) < 2:
        raise ConfigError(f"dataset.source={source} has a single class ({classes[0]}); classification needs two or "
                          "more.")
    sets = {}
    for key, table in tables.items():
        # an unlabeled target train set gets placeholder labels: only the k-label draw reads them
        sets[key] = (_encode(table, classes, key, paths[key]) if table.labels is not None
                     else Labeled(table.x, torch.full((len(table.x),), -1, dtype=torch.int64)))
    return Domains(source=sets["source"], target=sets["target"], target_test=sets.get("target_test", sets["target"]),
                   num_classes=len(classes), input_shape=shape, class_names=classes,
                   preprocess=Standardize.fit(sets["source"].x) if standardize else None,
                   feature_names=tables["source"].columns)
