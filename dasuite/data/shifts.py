"""Domain shifts applied to whole uint8 image batches: geometric/colour shifts and CIFAR-10-C style
corruptions. Each function takes a (N, C, H, W) uint8 tensor and a seeded generator and returns a
uint8 tensor, so a shifted domain is the same every time it is built.

The corruptions use CIFAR-10-C's severity constants but simpler operations than its code: brightness
is added to RGB values (not HSV value), contrast shrinks towards each image's mean over all
channels, pixelate is area down-sampling then nearest up-sampling. "CIFAR-10-C style", not a copy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dasuite.errors import ConfigError, check_number

#: CIFAR-10-C severity constants (Hendrycks & Dietterich, ICLR 2019), severities 1..5.
_SEVERITY = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # noise std, on [0, 1] pixels
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),  # blur sigma, in pixels
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # added to every pixel
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # factor towards each image's mean
    "jpeg": (80, 65, 58, 50, 40),  # JPEG quality
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # down-sampling factor before nearest up-sampling
}
CORRUPTIONS = tuple(_SEVERITY)


def corrupt(x: torch.Tensor, generator: torch.Generator, name: str, severity: int) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1-5) to a uint8 batch."""
    c = _SEVERITY[name][severity - 1]
    if name == "jpeg":
        return torch.stack([_jpeg(image, c) for image in x])
    if name == "pixelate":
        size = x.shape[-1]
        small = F.interpolate(x.float(), size=max(1, int(size * c)), mode="area")
        return _to_uint8(F.interpolate(small, size=size, mode="nearest") / 255.0)
    f = x.float() / 255.0
    if name == "gaussian_noise":
        f = f + c * torch.randn(f.shape, generator=generator)
    elif name == "gaussian_blur":
        from torchvision.transforms.v2.functional import gaussian_blur

        f = gaussian_blur(f, kernel_size=2 * math.ceil(3 * c) + 1, sigma=c)
    elif name == "brightness":
        f = f + c
    elif name == "contrast":
        mean = f.mean(dim=(1, 2, 3), keepdim=True)
        f = (f - mean) * c + mean
    return _to_uint8(f)


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


def _jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """One (C, H, W) uint8 image through JPEG compression at ``quality``."""
    import io

    import numpy as np
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(buffer)).reshape(array.shape)
    return torch.from_numpy(decoded.copy()).permute(2, 0, 1)


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
