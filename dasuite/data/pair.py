"""The source/target pair every method trains on, and the splits made from it.

A pair module (``toy.py``, ...) returns :class:`Domains`: a labeled source pool, the target
training set and a target test set. :func:`build_pair` then holds out the source validation
split and, when asked, draws ``k`` labeled target samples per class. Splitting is the same for
every pair, so it lives here and the pair modules only produce data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dasuite.data.images import Preprocess
from dasuite.errors import ConfigError

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
    target: Labeled  # target train; its labels are used only to draw the k labeled samples
    target_test: Labeled
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: list[str] | None = None
    preprocess: Preprocess | None = None  # raw batch -> model input (images); None: use as is


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

    def prepare(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        """A raw batch (as stored in the splits) as the model's input."""
        return x if self.preprocess is None else self.preprocess(x, train)


def build_pair(cfg: DictConfig) -> DomainPair:
    """Instantiate the pair module named by ``cfg._target_`` and split what it returns."""
    settings = OmegaConf.to_container(cfg, resolve=True)
    try:
        domains: Domains = instantiate({k: v for k, v in settings.items() if k not in SPLIT_KEYS})
    except InstantiationException as error:
        if isinstance(error.__cause__, ConfigError):
            raise error.__cause__ from None
        raise
    return split(
        domains,
        val_fraction=cfg.get("val_fraction", 0.1),
        labels_per_class=cfg.get("target_labels_per_class", 0),
        seed=cfg.get("split_seed", 0),
    )


def split(domains: Domains, val_fraction: float, labels_per_class: int, seed: int) -> DomainPair:
    """Hold out ``val_fraction`` of the source pool; draw ``labels_per_class`` target labels per class."""
    for name, part in (("source", domains.source), ("target", domains.target),
                       ("target test", domains.target_test)):
        if len(part) == 0:
            raise ConfigError(f"the {name} domain of this dataset pair is empty.")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"dataset.val_fraction={val_fraction} must lie in [0, 1).")
    generator = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(domains.source), generator=generator)
    n_val = max(1, round(val_fraction * len(order))) if val_fraction > 0 else 0
    source_val = domains.source.subset(order[:n_val])
    source_train = domains.source.subset(order[n_val:])
    if len(source_train) == 0:
        raise ConfigError(f"dataset.val_fraction={val_fraction} leaves no source training data.")
    return DomainPair(
        source_train=source_train,
        source_val=source_val,
        target_train=domains.target.x,
        target_labeled=_draw_per_class(domains.target, domains.num_classes, labels_per_class, generator),
        target_test=domains.target_test,
        num_classes=domains.num_classes,
        input_shape=tuple(domains.input_shape),
        class_names=domains.class_names or [str(c) for c in range(domains.num_classes)],
        preprocess=domains.preprocess,
    )


def _draw_per_class(target: Labeled, num_classes: int, k: int, generator: torch.Generator) -> Labeled | None:
    if k < 0:
        raise ConfigError(f"dataset.target_labels_per_class={k} must be >= 0.")
    if k == 0:
        return None
    counts = torch.bincount(target.y, minlength=num_classes)
    if int(counts.min()) < k:
        raise ConfigError(
            f"dataset.target_labels_per_class={k} is more than the target train set has: its smallest "
            f"class has {int(counts.min())} samples (class counts {counts.tolist()}). Use a k of at most "
            f"{int(counts.min())}."
        )
    picked = [torch.nonzero(target.y == c).flatten() for c in range(num_classes)]
    picked = [idx[torch.randperm(len(idx), generator=generator)[:k]] for idx in picked]
    return target.subset(torch.cat(picked))
