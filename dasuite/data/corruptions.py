"""The common corruptions of Hendrycks & Dietterich (ICLR 2019), at severities 1-5, for uint8 image batches.

Each corruption is a :class:`Corruption`: its family (noise, blur, weather, digital; ``extra`` for the two
of the paper's held-out set kept here), its five published parameters, and an operation written here in
torch and NumPy after the CIFAR-10-C generation code (``hendrycks/robustness``,
``ImageNet-C/create_c/make_cifar_c.py``), which calls scikit-image, OpenCV and ImageMagick: the
parameters are that file's, made for 32×32 images and used as they are for the 28×28 digits (the
elastic transform scales its own by the image side, as the file does). No library is used:
``imagecorruptions`` (the packaged port) has been unmaintained since 2020, needs OpenCV, scikit-image
and Wand, and handles one image at a time; these run on whole batches from a seeded generator.

Deviations from the published code, all deliberate:

- **frost** blends a procedural ice texture (bright ridges of a rough plasma fractal, pale blue),
  not one of the six frost photographs the release crops from (they are not shipped): frost figures are
  not comparable to CIFAR-10-C's.
- One bilinear resampling where the code resamples twice (elastic: the affine warp and the displacement
  field in one step; zoom and snow's zoom: about the exact centre).
- Results are rounded to uint8 (the release truncates); a 1-channel image is its own grey value where
  the code converts RGB to grey (snow) or works in HSV (brightness: ``v + c`` scaling RGB alike, the
  same result as the HSV round trip).
- Kept as published: glass blur's offsets in [-d, d - 1] and its "swap" that copies (NumPy views),
  the fractal's ``wibble``² amplitude, the one-sided motion-blur line.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dasuite.data.corruption_filters import (centre_zoom, disk_kernel, filter2d, gaussian_filter, motion_blur,
                                             plasma_fractal, shift_sample)
from dasuite.errors import ConfigError

CHUNK = 512  # images corrupted at once (bounds the memory of the blurs' taps)


@dataclass(frozen=True)
class Corruption:
    family: str
    severities: tuple  # the published parameter of each severity 1..5
    apply: Callable[[torch.Tensor, object, torch.Generator], torch.Tensor]  # float [0, 1] batch, parameter, rng


def _uniform(shape, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=generator)


def _grey(f: torch.Tensor) -> torch.Tensor:
    """Luma (ITU-R 601, OpenCV's RGB2GRAY) of an RGB batch; a 1-channel batch as it is."""
    if f.shape[1] == 1:
        return f
    return (0.299 * f[:, 0:1] + 0.587 * f[:, 1:2] + 0.114 * f[:, 2:3])


def gaussian_noise(f, std, generator):
    return f + std * torch.randn(f.shape, generator=generator)


def shot_noise(f, photons, generator):
    return torch.poisson(f * photons, generator=generator) / photons


def impulse_noise(f, amount, generator):
    """Salt and pepper per value (scikit-image's ``random_noise(mode='s&p')``): 0 or 1, evenly, at rate ``amount``."""
    hit = torch.rand(f.shape, generator=generator) < amount
    salt = (torch.rand(f.shape, generator=generator) < 0.5).to(f.dtype)
    return torch.where(hit, salt, f)


def speckle_noise(f, std, generator):
    return f + f * std * torch.randn(f.shape, generator=generator)


def gaussian_blur(f, sigma, generator):
    return gaussian_filter(f, sigma)


def defocus_blur(f, c, generator):
    radius, alias_blur = c
    return filter2d(f, disk_kernel(radius, alias_blur))


def glass_blur(f, c, generator):
    """Blur, quantise, move each pixel to a random neighbour's value (from the bottom right, ``iterations``
    passes), blur again."""
    sigma, delta, iterations = c
    x = (gaussian_filter(f, sigma) * 255).floor() / 255  # the code's np.uint8(... * 255)
    n, _, h, w = x.shape
    rows, cols = range(h - delta, delta, -1), range(w - delta, delta, -1)
    batch = torch.arange(n)
    for _ in range(iterations):
        jumps = torch.randint(-delta, delta, (len(rows), len(cols), 2, n), generator=generator)
        for i, r in enumerate(rows):
            for j, col in enumerate(cols):
                dx, dy = jumps[i, j]
                x[:, :, r, col] = x[batch, :, r + dy, col + dx]
    return gaussian_filter(x, sigma)


def motion_blur_corruption(f, c, generator):
    radius, sigma = c
    return motion_blur(f, radius, sigma, _uniform(len(f), -45, 45, generator))


def zoom_blur(f, factors, generator):
    """The mean of the image and its centre zooms by 1, 1.01, ... (``factors`` of them, NumPy's
    ``arange(1, m, 0.01)`` of the code)."""
    out = f.clone()
    for k in range(factors):
        out += centre_zoom(f, 1 + 0.01 * k)
    return out / (factors + 1)


def snow(f, c, generator):
    """Snowflakes (thresholded zoomed noise, motion-blurred at -135..-45°, added and rotated by 180°) over the
    image brightened towards 1.5 × its grey + 0.5."""
    mean, std, zoom, threshold, radius, sigma, keep = c
    n, _, h, w = f.shape
    layer = (mean + std * torch.randn(n, 1, h, w, generator=generator))
    layer = centre_zoom(layer, zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer).clamp(0, 1)
    layer = (layer * 255).round() / 255  # the code passes the layer through an 8-bit PNG
    layer = motion_blur(layer, radius, sigma, _uniform(n, -135, -45, generator))
    f = keep * f + (1 - keep) * torch.maximum(f, _grey(f) * 1.5 + 0.5)
    return f + layer + layer.flip(-1, -2)


def frost_texture(n: int, channels: int, h: int, w: int, generator: torch.Generator) -> torch.Tensor:
    """Procedural frost in [0, 1] (stands in for the release's frost photographs): thin bright ridges where a
    rough plasma fractal crosses its middle value, over a pale base, tinted ice blue."""
    size = 1 << max(1, math.ceil(math.log2(max(h, w))))
    heights = plasma_fractal(n, size, 1.5, generator)[:, :h, :w]
    ridges = (1 - (2 * heights - 1).abs()) ** 6
    grey = (0.35 + 0.65 * ridges).unsqueeze(1)
    tint = torch.tensor([0.85, 0.93, 1.0] if channels == 3 else [0.93]).view(1, channels, 1, 1)
    return grey * tint


def frost(f, c, generator):
    keep, add = c
    n, channels, h, w = f.shape
    return keep * f + add * frost_texture(n, channels, h, w, generator)


def fog(f, c, generator):
    """A plasma fractal (side: the next power of two) added, then rescaled by each image's maximum."""
    amount, decay = c
    n, _, h, w = f.shape
    size = 1 << max(1, math.ceil(math.log2(max(h, w))))
    top = f.amax(dim=(1, 2, 3), keepdim=True)
    f = f + amount * plasma_fractal(n, size, decay, generator)[:, None, :h, :w]
    return f * top / (top + amount)


def brightness(f, c, generator):
    """HSV value + ``c`` (clipped to 1): every channel scaled by v'/v, black pixels become grey v'."""
    value = f.amax(dim=1, keepdim=True)
    lifted = (value + c).clamp(max=1.0)
    return torch.where(value > 0, f * lifted / value.clamp_min(1e-12), lifted.expand_as(f))


def contrast(f, c, generator):
    mean = f.mean(dim=(2, 3), keepdim=True)
    return (f - mean) * c + mean


def elastic_transform(f, c, generator):
    """A random affine warp (three points moved by up to ``c[2]`` × side) and a smooth random displacement
    (uniform noise blurred by ``c[1]`` × side, scaled by ``c[0]`` × side), mirrored at the edges."""
    n, _, h, w = f.shape
    side = float(min(h, w))  # the code's IMSIZE
    scale, smooth, shift = (v * side for v in c)
    centre = torch.tensor([w // 2, h // 2], dtype=torch.float32)
    third = min(h, w) // 3
    src = torch.stack([centre + third, centre + torch.tensor([third, -third]), centre - third])  # (3, 2) as x, y
    dst = src + _uniform((n, 3, 2), -shift, shift, generator)
    ones = torch.ones(n, 3, 1)
    # the inverse warp maps output points back to input points: solve [dst 1] A = src
    inverse = torch.linalg.solve(torch.cat([dst, ones], 2), src.expand(n, 3, 2))  # (n, 3, 2)
    noise = _uniform((n, 2, h, w), -1, 1, generator)
    moved = gaussian_filter(noise, smooth, truncate=3.0, mode="reflect") * scale  # dx, dy per pixel
    ys, xs = torch.meshgrid(torch.arange(h, dtype=f.dtype), torch.arange(w, dtype=f.dtype), indexing="ij")
    px, py = xs + moved[:, 0], ys + moved[:, 1]
    sx = inverse[:, 0, 0, None, None] * px + inverse[:, 1, 0, None, None] * py + inverse[:, 2, 0, None, None]
    sy = inverse[:, 0, 1, None, None] * px + inverse[:, 1, 1, None, None] * py + inverse[:, 2, 1, None, None]
    return shift_sample(f, sx - xs, sy - ys, padding="reflection")


def _per_image(x: torch.Tensor, convert: Callable) -> torch.Tensor:
    from PIL import Image

    out = []
    for image in x:
        array = image.permute(1, 2, 0).numpy()
        pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
        out.append(torch.from_numpy(np.asarray(convert(pil)).reshape(array.shape).copy()).permute(2, 0, 1))
    return torch.stack(out)


def pixelate(x, c, generator):
    """Box down-sampling to ``int(side × c)`` and box up-sampling back (PIL's BOX filter, as the code)."""
    from PIL import Image

    h, w = x.shape[-2:]
    return _per_image(x, lambda pil: pil.resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX))


def jpeg_compression(x, quality, generator):
    from PIL import Image

    def round_trip(pil):
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=quality)
        return Image.open(buffer)

    return _per_image(x, round_trip)


#: name -> corruption; the severity parameters are make_cifar_c.py's, in its order.
CORRUPTIONS = {
    "gaussian_noise": Corruption("noise", (0.04, 0.06, 0.08, 0.09, 0.10), gaussian_noise),  # std on [0, 1]
    "shot_noise": Corruption("noise", (500, 250, 100, 75, 50), shot_noise),  # Poisson photons per unit intensity
    "impulse_noise": Corruption("noise", (0.01, 0.02, 0.03, 0.05, 0.07), impulse_noise),  # salt-and-pepper rate
    "defocus_blur": Corruption("blur", ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
                               defocus_blur),  # disk radius, anti-alias sigma
    "glass_blur": Corruption("blur", ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
                             glass_blur),  # sigma, max jump, passes
    "motion_blur": Corruption("blur", ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
                              motion_blur_corruption),  # radius, sigma
    "zoom_blur": Corruption("blur", (7, 12, 16, 21, 26), zoom_blur),  # zooms 1, 1.01, ...: how many
    "snow": Corruption("weather", ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
                                   (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
                                   (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)), snow),
    "frost": Corruption("weather", ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)), frost),
    "fog": Corruption("weather", ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)), fog),  # amount, decay
    "brightness": Corruption("weather", (0.05, 0.1, 0.15, 0.2, 0.3), brightness),  # added to HSV value
    "contrast": Corruption("digital", (0.75, 0.5, 0.4, 0.3, 0.15), contrast),  # factor towards the channel mean
    "elastic_transform": Corruption("digital", ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                                                (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
                                    elastic_transform),  # × side: displacement, its smoothness, affine jitter
    "pixelate": Corruption("digital", (0.95, 0.9, 0.85, 0.75, 0.65), pixelate),  # down-sampling factor
    "jpeg_compression": Corruption("digital", (80, 65, 58, 50, 40), jpeg_compression),  # JPEG quality
    "speckle_noise": Corruption("extra", (0.06, 0.1, 0.12, 0.16, 0.2), speckle_noise),  # multiplicative std
    "gaussian_blur": Corruption("extra", (0.4, 0.6, 0.7, 0.8, 1.0), gaussian_blur),  # sigma in pixels
}
#: The 15 of the benchmark (CIFAR-10-C / ImageNet-C), in the order papers and continual streams list them.
STANDARD = tuple(name for name, c in CORRUPTIONS.items() if c.family != "extra")
_ON_UINT8 = {"pixelate", "jpeg_compression"}  # PIL round trips of the uint8 images


def corrupt(x: torch.Tensor, generator: torch.Generator, name: str, severity: int) -> torch.Tensor:
    """Corruption ``name`` at ``severity`` (1-5) of a uint8 (N, C, H, W) batch (C = 1 or 3), as uint8; the same
    batch and generator state give the same result."""
    corruption, parameter = CORRUPTIONS[name], CORRUPTIONS[name].severities[severity - 1]
    parts = []
    for chunk in x.split(CHUNK):
        if name in _ON_UINT8:
            parts.append(corruption.apply(chunk, parameter, generator))
            continue
        f = corruption.apply(chunk.float() / 255.0, parameter, generator)
        parts.append((f * 255.0).round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(parts) if parts else x.clone()


def corruption_plan(corruption, severity, valid=tuple(CORRUPTIONS)) -> list[tuple[str, int]]:
    """The (name, severity) target sets that ``dataset.corruption`` / ``dataset.severity`` ask for, in order:
    ``corruption`` is a name of ``valid``, a list of them (a continual stream) or ``all`` (:data:`STANDARD`);
    ``severity`` 1-5, or a list with one severity per corruption."""
    names = list(STANDARD) if corruption == "all" else [corruption] if isinstance(corruption, str) else list(corruption)
    unknown = [n for n in names if n not in valid]
    if not names or unknown:
        raise ConfigError(f"dataset.corruption={corruption!r}: {unknown or 'no name'} is not a corruption. Valid: "
                          f"a name of {', '.join(valid)}; a list of them (a stream, in order); or all (the 15 "
                          f"standard ones: {', '.join(STANDARD)}).")
    severities = [severity] * len(names) if isinstance(severity, int) else list(severity)
    if len(severities) != len(names) or any(isinstance(s, bool) or s not in (1, 2, 3, 4, 5) for s in severities):
        raise ConfigError(f"dataset.severity={severity!r} must be an integer from 1 to 5, or a list of one such "
                          f"integer per corruption ({len(names)} here).")
    return list(zip(names, severities))
