"""Image filters the corruptions of :mod:`dasuite.data.corruptions` are built from, on float (N, C, H, W)
batches in [0, 1]. Written here in torch (no OpenCV, scikit-image or ImageMagick); which call of the
CIFAR-10-C generation code each one stands for is said in its docstring."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_filter(f: torch.Tensor, sigma: float, truncate: float = 4.0, mode: str = "replicate") -> torch.Tensor:
    """A separable Gaussian blur of each channel: scikit-image's ``filters.gaussian`` (scipy's
    ``gaussian_filter``: radius ``int(truncate * sigma + 0.5)``; ``mode`` is torch's padding, ``replicate``
    for its default ``nearest``, ``reflect`` for its ``reflect``). ``sigma`` 0 or a radius of 0: unchanged."""
    radius = int(truncate * sigma + 0.5)
    if sigma <= 0 or radius == 0:
        return f
    offsets = torch.arange(-radius, radius + 1, dtype=f.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = f.shape[1]
    f = F.conv2d(F.pad(f, (radius, radius, 0, 0), mode=mode), kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(f, (0, 0, radius, radius), mode=mode), kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def filter2d(f: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Each channel correlated with a 2-D ``kernel`` of odd sides, edges mirrored without repeating the edge pixel
    (OpenCV's ``filter2D`` with its default BORDER_REFLECT_101)."""
    kh, kw = kernel.shape
    c = f.shape[1]
    padded = F.pad(f, (kw // 2, kw // 2, kh // 2, kh // 2), mode="reflect")
    return F.conv2d(padded, kernel.to(f.dtype).expand(c, 1, kh, kw), groups=c)


def disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """The defocus kernel of CIFAR-10-C's ``disk``: the pixels within ``radius`` of the centre of a 17×17 grid
    (wider for radii above 8), normalised, then smoothed by a 3×3 (5×5 above 8) Gaussian of ``alias_blur``;
    cut to its non-zero support."""
    half = 8 if radius <= 8 else math.ceil(radius)
    side = 3 if radius <= 8 else 5
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((grid[None, :] ** 2 + grid[:, None] ** 2) <= radius ** 2).double()
    disk = disk / disk.sum()
    taps = torch.exp(-0.5 * (torch.arange(side, dtype=torch.float64) - side // 2) ** 2 / alias_blur ** 2)
    taps = taps / taps.sum()  # OpenCV's getGaussianKernel(side, alias_blur)
    kernel = filter2d(disk.view(1, 1, *disk.shape), torch.outer(taps, taps))[0, 0]
    rows, cols = torch.nonzero(kernel.abs() > 1e-12, as_tuple=True)
    reach = int(max(rows.sub(half).abs().max(), cols.sub(half).abs().max()))
    return kernel[half - reach: half + reach + 1, half - reach: half + reach + 1].float()


def shift_sample(f: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Each image sampled at (x + dx, y + dy) pixels, bilinearly; ``dx``, ``dy`` are per image (N,) or per pixel
    (N, H, W); ``padding``: ``border`` repeats the edge, ``reflection`` mirrors about the edge pixels."""
    n, _, h, w = f.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=f.dtype), torch.arange(w, dtype=f.dtype), indexing="ij")
    if dx.dim() == 1:
        dx, dy = dx.view(n, 1, 1), dy.view(n, 1, 1)
    grid = torch.stack([2 * (xs + dx) / max(w - 1, 1) - 1, 2 * (ys + dy) / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(f, grid, mode="bilinear", padding_mode=padding, align_corners=True)


def motion_blur(f: torch.Tensor, radius: int, sigma: float, angles: torch.Tensor) -> torch.Tensor:
    """ImageMagick's ``MotionBlurImage`` as CIFAR-10-C calls it through Wand: a one-sided line of ``2 * radius + 1``
    taps at whole-pixel offsets ``round(i cos a), round(i sin a)`` along each image's angle ``angles`` (degrees),
    weighted ``exp(-i² / 2σ²)`` and normalised; edge pixels repeat outside the image."""
    taps = torch.arange(2 * radius + 1, dtype=f.dtype)
    weights = torch.exp(-0.5 * (taps / sigma) ** 2)
    weights = weights / weights.sum()
    radians = angles.to(f.dtype) * math.pi / 180
    out = torch.zeros_like(f)
    for i, weight in zip(taps, weights):
        out += weight * shift_sample(f, torch.round(i * radians.cos()), torch.round(i * radians.sin()))
    return out


def centre_zoom(f: torch.Tensor, factor: float) -> torch.Tensor:
    """Zoom into the centre by ``factor`` ≥ 1 keeping the size (CIFAR-10-C's ``clipped_zoom``: the central
    1/factor crop scaled up bilinearly)."""
    n = len(f)
    theta = torch.tensor([[1 / factor, 0.0, 0.0], [0.0, 1 / factor, 0.0]], dtype=f.dtype).expand(n, 2, 3)
    grid = F.affine_grid(theta, list(f.shape), align_corners=False)
    return F.grid_sample(f, grid, mode="bilinear", padding_mode="border", align_corners=False)


def plasma_fractal(n: int, size: int, decay: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` diamond-square height maps of side ``size`` (a power of two), each scaled to [0, 1]: CIFAR-10-C's
    ``plasma_fractal`` (used for fog), whose random offset at each level is ``wibble`` times a uniform draw in
    ±``wibble`` (so its amplitude falls by ``decay``² per level), starting from ``wibble`` = 100."""
    heights = torch.zeros(n, size, size, dtype=torch.float64)
    step, wibble = size, 100.0

    def wibbled(total: torch.Tensor) -> torch.Tensor:
        return total / 4 + wibble * (torch.rand(total.shape, generator=generator, dtype=torch.float64) * 2 - 1) * wibble

    while step >= 2:
        half = step // 2
        corners = heights[:, ::step, ::step]
        square = corners + corners.roll(-1, 1)
        heights[:, half::step, half::step] = wibbled(square + square.roll(-1, 2))
        centres, corners = heights[:, half::step, half::step], heights[:, ::step, ::step]
        heights[:, ::step, half::step] = wibbled(centres + centres.roll(1, 1) + corners + corners.roll(-1, 2))
        heights[:, half::step, ::step] = wibbled(centres + centres.roll(1, 2) + corners + corners.roll(-1, 1))
        step, wibble = half, wibble / decay
    low = heights.amin(dim=(1, 2), keepdim=True)
    high = heights.amax(dim=(1, 2), keepdim=True)
    return ((heights - low) / (high - low).clamp_min(1e-12)).float()
