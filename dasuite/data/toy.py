"""Toy pairs generated in code from a seed: no files, no downloads.

Each domain is an independent draw: the source pool, the target train set and the target test set
come one after the other from the random stream of the pair's seed; the moons' extra source
validation points come from a stream of their own, so their number changes none of the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dasuite.data.pair import Domains, Labeled
from dasuite.errors import ConfigError

MOONS_CENTRE = (0.5, 0.25)
#: Added to the pair's seed to seed the extra source validation draw: a stream no run's seed starts.
VAL_STREAM = 2**32


def _moons(n: int, noise: float, generator: torch.Generator) -> Labeled:
    """scikit-learn-style moons: an upper arc (class 0) and a lower, shifted arc (class 1)."""
    y = torch.randint(0, 2, (n,), generator=generator)
    t = torch.rand(n, generator=generator) * math.pi
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    x = torch.where(y[:, None] == 0, upper, lower)
    x = x + noise * torch.randn(n, 2, generator=generator)
    return Labeled(x, y)


def _rotate(x: torch.Tensor, degrees: float, centre: Sequence[float] | torch.Tensor) -> torch.Tensor:
    angle = math.radians(degrees)
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    c = centre if isinstance(centre, torch.Tensor) else torch.tensor(list(centre), dtype=torch.float32)
    return (x - c) @ rotation.T + c


def moons(n_per_domain: int = 150, n_target_test: int = 1000, noise: float = 0.05,
          rotation_deg: float = 35.0, seed: int = 0, centre: Sequence[float] | None = MOONS_CENTRE,
          target_from_source: bool = False, n_source_val: int = 0, recentre: bool = False,
          scale: float = 1.0) -> Domains:
    """Source: two moons. Target: fresh moons rotated by ``rotation_deg`` (counter-clockwise) around
    ``centre`` (None: the source pool's mean); with ``target_from_source`` the target train set is the
    source pool itself, rotated (as in ADAPT's two-moons example). The target test set is always a fresh
    draw. ``n_source_val`` fresh source points join the source validation split, drawn from their own
    stream: the pool, the target and the test set are the same whatever their number. Last, every point
    of every set is moved by minus the source pool's mean when ``recentre`` and multiplied by ``scale``
    (the DANN authors' ``make_trans_moons``: centre=None, recentre, scale 2)."""
    _check_sizes(n_per_domain=n_per_domain, n_target_test=n_target_test)
    if n_source_val < 0:
        raise ConfigError(f"dataset.n_source_val={n_source_val} must be >= 0.")
    if noise < 0:
        raise ConfigError(f"dataset.noise={noise} must be >= 0.")
    if centre is not None and len(centre) != 2:
        raise ConfigError(f"dataset.centre={list(centre)} must be two numbers (x, y), or null (the source "
                          "pool's mean).")
    if not scale > 0:
        raise ConfigError(f"dataset.scale={scale} must be > 0 (every point is multiplied by it).")
    g = torch.Generator().manual_seed(int(seed))
    source = _moons(n_per_domain, noise, g)
    target = _moons(n_per_domain, noise, g)
    test = _moons(n_target_test, noise, g)
    if target_from_source:
        target = source
    mean = source.x.mean(0)
    rotated = [Labeled(_rotate(d.x, rotation_deg, mean if centre is None else centre), d.y) for d in (target, test)]
    val = _moons(n_source_val, noise, torch.Generator().manual_seed(VAL_STREAM + int(seed))) if n_source_val else None
    origin = mean if recentre else torch.zeros(2)

    def placed(d: Labeled | None) -> Labeled | None:
        return None if d is None else Labeled(scale * (d.x - origin), d.y)

    return Domains(placed(source), placed(rotated[0]), placed(rotated[1]), num_classes=2, input_shape=(2,),
                   class_names=["upper", "lower"], source_val=placed(val))


def blobs(n_per_domain: int = 300, n_target_test: int = 1000, num_classes: int = 3, dim: int = 2,
          radius: float = 3.0, std: float = 0.6, shift: float | Sequence[float] = 1.5,
          seed: int = 0) -> Domains:
    """Gaussian class clusters with centres on a circle; the target is translated by ``shift``."""
    _check_sizes(n_per_domain=n_per_domain, n_target_test=n_target_test)
    if num_classes < 2 or dim < 2:
        raise ConfigError(f"dataset.num_classes={num_classes} and dataset.dim={dim} must both be >= 2.")
    shift_vec = torch.as_tensor(shift, dtype=torch.float32).flatten()
    if shift_vec.numel() not in (1, dim):
        raise ConfigError(f"dataset.shift={list(shift_vec.tolist())} must be one number or {dim} numbers "
                          f"(dataset.dim={dim}).")
    angles = torch.arange(num_classes) * (2 * math.pi / num_classes) + math.pi / 2
    centres = torch.zeros(num_classes, dim)
    centres[:, 0], centres[:, 1] = radius * torch.cos(angles), radius * torch.sin(angles)
    g = torch.Generator().manual_seed(int(seed))

    def draw(n: int, offset: torch.Tensor) -> Labeled:
        y = torch.randint(0, num_classes, (n,), generator=g)
        return Labeled(centres[y] + offset + std * torch.randn(n, dim, generator=g), y)

    zero = torch.zeros(dim)
    return Domains(draw(n_per_domain, zero), draw(n_per_domain, shift_vec),
                   draw(n_target_test, shift_vec), num_classes=num_classes, input_shape=(dim,))


def _check_sizes(**sizes: int) -> None:
    for key, value in sizes.items():
        if value < 2:
            raise ConfigError(f"dataset.{key}={value} must be at least 2.")
