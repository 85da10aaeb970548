"""The source/target pair every method trains on, and the splits made from it.

A pair module (``toy.py``, ...) returns :class:`Domains`: a labeled source pool, the target
training set and a target test set. :func:`split` then holds out the source validation split
and, when asked, draws ``k`` labeled target samples per class. Splitting is the same for every
pair, so it lives here and the pair modules only produce data; a run's config names the pair module
and its settings (:func:`dasuite.assembly.pair.build_pair` instantiates it: data never reads configs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dasuite.data.images import Preprocess
from dasuite.errors import ConfigError

#: The dataset keys :func:`split` reads; the others are the pair module's arguments.
SPLIT_KEYS = ("val_fraction", "target_labels_per_class", "split_seed")


@dataclass
class Labeled:
    """Inputs ``x`` (N, ...) and integer labels ``y`` (N,)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: torch.Tensor) -> Labeled:
        return Labeled(self.x[index], self.y[index])


@dataclass
class Domains:
    """What a pair module produces, before splitting."""

    source: Labeled
    target: Labeled  # target train; its labels are used only to draw the k labeled samples (-1: none)
    target_test: Labeled  # may be ``target`` itself (the usual UDA protocol): the k samples then leave it
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str] | None = None
    preprocess: Preprocess | None = None  # raw batch -> model input (images, standardised arrays); None: as is
    feature_names: list[str] | None = None  # a .csv source's feature columns, in the order the model reads them
    stored_size: int | None = None  # image pairs storing images larger than the model's input (crop_size crops)
    squash: bool = False  # image files resized to stored_size×stored_size whatever their aspect (else shorter side)
    source_val: Labeled | None = None  # more source points for validation only, besides the split held out of the pool
    target_test_segments: list[tuple[str, int]] | None = None  # consecutive parts of target_test: (name, size)


@dataclass
class DomainPair:
    """The splits a run uses. Target test labels serve evaluation only."""

    source_train: Labeled
    source_val: Labeled
    target_train: torch.Tensor  # unlabeled
    target_labeled: Labeled | None  # k per class, when dataset.target_labels_per_class > 0
    target_test: Labeled
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str]
    preprocess: Preprocess | None = None
    target_labeled_index: torch.Tensor | None = None  # positions of target_labeled in the target train set
    feature_names: list[str] | None = None
    stored_size: int | None = None
    squash: bool = False
    target_test_segments: list[tuple[str, int]] | None = None  # a continual stream's shifts, in order: (name, size)

    def prepare(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        """A raw batch (as stored in the splits) as the model's input."""
        return x if self.preprocess is None else self.preprocess(x, train)

    def training_sets(self) -> dict[str, tuple[torch.Tensor, ...]]:
        """The sets a method's stages can draw, by name: their inputs, then their labels where they have any.
        ``source`` (inputs, labels), ``target`` (inputs), ``target_test`` (its inputs only: the stream a test-time
        method adapts on, or a transductive method's) and, with k labeled target samples per class,
        ``target_labeled`` (inputs, labels)."""
        sets = {"source": (self.source_train.x, self.source_train.y), "target": (self.target_train,),
                "target_test": (self.target_test.x,)}
        if self.target_labeled is not None:
            sets["target_labeled"] = (self.target_labeled.x, self.target_labeled.y)
        return sets

    def labels(self, draw: str) -> torch.Tensor | None:
        """The labels the engine keeps for the training set ``draw`` where it has any but a method does not get them
        (``target_test``: to order a label-shifted stream and score its online predictions), else None."""
        return self.target_test.y if draw == "target_test" else None

    def model_input(self) -> dict:
        """What a model trained on this pair takes: stored in checkpoints for ``predict`` and ``export``."""
        return {"input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "class_names": list(self.class_names), "feature_names": self.feature_names,
                "preprocess": None if self.preprocess is None else self.preprocess.config(),
                **({"image_loading": self.image_loading()} if len(self.input_shape) == 3 else {})}

    def image_loading(self) -> dict:
        """How an image file becomes a stored image (side ``size``; ``squash``: resized to size×size, else the
        shorter side resized and the centre cut), and the centre ``crop`` the model is then fed (None: none)."""
        crop = getattr(self.preprocess, "crop", None)
        return {"size": self.stored_size or self.input_shape[1], "squash": self.squash, "crop": crop}

    def labeled_target_record(self) -> dict:
        """Which target train samples were labeled (positions in the pair's target train set, in the
        order the pair module returns it: row numbers of an arrays file, sorted files of a folder)."""
        return {"target_labels_per_class": len(self.target_labeled_index) // self.num_classes,
                "indices": self.target_labeled_index.tolist(),
                "labels": [self.class_names[c] for c in self.target_labeled.y.tolist()]}


def split(domains: Domains, val_fraction: float, labels_per_class: int, seed: int) -> DomainPair:
    """Hold out ``val_fraction`` of the source pool (with the pair's own ``source_val`` points, the source
    validation set); draw ``labels_per_class`` target labels per class."""
    for name, part in (("source", domains.source), ("target", domains.target),
                       ("target test", domains.target_test)):
        if len(part) == 0:
            raise ConfigError(f"the {name} domain of this dataset pair is empty: it has no samples. Check the "
                              "dataset settings (files, folders, sizes) of that domain.")
    _check_labels(domains)
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"dataset.val_fraction={val_fraction} must lie in [0, 1).")
    generator = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(domains.source), generator=generator)
    n_val = max(1, round(val_fraction * len(order))) if val_fraction > 0 else 0
    source_val = domains.source.subset(order[:n_val])
    if domains.source_val is not None:
        extra = domains.source_val
        source_val = Labeled(torch.cat([source_val.x, extra.x]), torch.cat([source_val.y, extra.y]))
    source_train = domains.source.subset(order[n_val:])
    if len(source_train) == 0:
        raise ConfigError(f"dataset.val_fraction={val_fraction} leaves no source training data.")
    labeled = _draw_per_class(domains.target, domains.num_classes, labels_per_class, generator)
    target_test = domains.target_test
    if labeled is not None and target_test is domains.target:  # never evaluate on the labels trained on
        keep = torch.ones(len(target_test), dtype=torch.bool)
        keep[labeled] = False
        target_test = target_test.subset(torch.nonzero(keep).flatten())
    return DomainPair(
        source_train=source_train,
        source_val=source_val,
        target_train=domains.target.x,
        target_labeled=None if labeled is None else domains.target.subset(labeled),
        target_test=target_test,
        num_classes=domains.num_classes,
        input_shape=tuple(domains.input_shape),
        class_names=domains.class_names or [str(c) for c in range(domains.num_classes)],
        preprocess=domains.preprocess,
        target_labeled_index=labeled,
        feature_names=domains.feature_names,
        stored_size=domains.stored_size,
        squash=domains.squash,
        target_test_segments=domains.target_test_segments if target_test is domains.target_test else None,
    )


def _check_labels(domains: Domains) -> None:
    """Labels must name one of the ``num_classes`` classes (-1 marks an unlabeled target sample)."""
    k = domains.num_classes
    for name, part, lowest in (("source", domains.source, 0), ("target", domains.target, -1),
                               ("target test", domains.target_test, 0)):
        if not isinstance(part.y, torch.Tensor) or len(part.y) == 0:
            continue
        outside = (part.y < lowest) | (part.y >= k)
        if bool(outside.any()):
            bad = sorted(set(part.y[outside].tolist()))
            raise ConfigError(f"the {name} domain has labels outside the pair's {k} classes (0..{k - 1}): "
                              f"{bad[:10]} in {int(outside.sum())} of {len(part.y)} samples. Labels must be "
                              "class indices below num_classes; check the dataset's label column or class folders.")


def _draw_per_class(target: Labeled, num_classes: int, k: int, generator: torch.Generator) -> torch.Tensor | None:
    """Positions of ``k`` random target samples of each class (None for k = 0)."""
    if k < 0:
        raise ConfigError(f"dataset.target_labels_per_class={k} must be >= 0.")
    if k == 0:
        return None
    unlabeled = int((target.y < 0).sum())
    if unlabeled:
        has = "none" if unlabeled == len(target.y) else f"{unlabeled} of its {len(target.y)} samples unlabeled (-1)"
        raise ConfigError(f"dataset.target_labels_per_class={k} needs labels in the target train set, and this "
                          f"pair's target has {has}; use dataset.target_labels_per_class=0.")
    counts = torch.bincount(target.y, minlength=num_classes)
    if int(counts.min()) < k:
        raise ConfigError(
            f"dataset.target_labels_per_class={k} is more than the target train set has: its smallest "
            f"class has {int(counts.min())} samples (class counts {counts.tolist()}). Use a k of at most "
            f"{int(counts.min())}."
        )
    picked = [torch.nonzero(target.y == c).flatten() for c in range(num_classes)]
    picked = [idx[torch.randperm(len(idx), generator=generator)[:k]] for idx in picked]
    return torch.cat(picked)


def pair_from_tensors(source, target, target_test, class_names: list[str] | None = None, val_fraction: float = 0.1,
                      labels_per_class: int = 0, seed: int = 0, preprocess: Preprocess | None = None) -> DomainPair:
    """A pair from tensors you hold (:func:`dasuite.fit`): ``source`` as ``(x, y)``, ``target`` as ``x`` (unlabeled)
    or ``(x, y)`` (its labels only draw ``labels_per_class`` labeled samples per class), ``target_test`` as
    ``(x, y)``; ``x`` is (N, D) vectors or (N, C, H, W) images, ``y`` integer classes. ``class_names`` defaults to
    0 .. C-1, C one more than the largest label; the rest is :func:`split`'s."""
    xs, ys = source
    target_x, target_y = target if isinstance(target, (tuple, list)) else (target, None)
    test_x, test_y = target_test
    num_classes = len(class_names) if class_names else int(max(ys.max(), test_y.max())) + 1
    unlabeled = torch.full((len(target_x),), -1, dtype=torch.long)
    domains = Domains(source=Labeled(xs, ys.long()),
                      target=Labeled(target_x, unlabeled if target_y is None else target_y.long()),
                      target_test=Labeled(test_x, test_y.long()), num_classes=num_classes,
                      input_shape=tuple(xs.shape[1:]), class_names=class_names, preprocess=preprocess)
    return split(domains, val_fraction, labels_per_class, seed)
