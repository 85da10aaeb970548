"""Geometric and colour shifts of whole uint8 image batches (MNIST → shifted MNIST). A shift takes a
(N, C, H, W) uint8 tensor and a seeded generator and returns a uint8 tensor, so a shifted domain is the
same every time it is built. The common corruptions (CIFAR-10-C's) are :mod:`dasuite.data.corruptions`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError, check_number


def digit_shift(x: torch.Tensor, generator: torch.Generator, rotation: float = 0.0, scale: float = 1.0,
                invert: bool = False, colour: bool = False) -> torch.Tensor:
    """MNIST → shifted MNIST: rotate by ``rotation`` degrees, zoom by ``scale`` (about the centre),
    ``invert`` (white background), ``colour`` (random foreground and background colour per image;
    needs 3 channels)."""
    rotation = check_number("dataset.shift.rotation", rotation)
    scale = check_number("dataset.shift.scale", scale)
    if not 0.25 <= scale <= 4:
        raise ConfigError(f"dataset.shift.scale={scale} must lie in [0.25, 4] (1 = no zoom).")
    if colour and x.shape[1] != 3:
        raise ConfigError("dataset.shift.colour=true needs colour images: set dataset.channels=3.")
    f = x.float() / 255.0
    if rotation or scale != 1.0:
        angle = math.radians(rotation)
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]]).expand(len(f), 2, 3)
        grid = F.affine_grid(theta, list(f.shape), align_corners=False)
        f = F.grid_sample(f, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if invert:
        f = 1.0 - f
    if colour:
        ink = torch.rand(len(f), 3, 1, 1, generator=generator)
        paper = torch.rand(len(f), 3, 1, 1, generator=generator)
        grey = f.mean(1, keepdim=True)
        f = grey * ink + (1 - grey) * paper
    return _to_uint8(f)


def _to_uint8(f: torch.Tensor) -> torch.Tensor:
    return (f * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def shifted_pair(source, target, target_test, shift=None, **settings):
    """An image pair whose target roles are the source domain under :func:`digit_shift`."""
    from functools import partial

    from dasuite.data.image_pair import image_pair

    shift = dict(shift or {})
    unknown = set(shift) - {"rotation", "scale", "invert", "colour"}
    if unknown:
        raise ConfigError(f"dataset.shift has unknown keys {sorted(unknown)}; valid: rotation, scale, invert, colour.")
    return image_pair(source, target, target_test, target_shift=partial(digit_shift, **shift), **settings)
