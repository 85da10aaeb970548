"""MNIST → MNIST-M style target: each digit blended over a random colour patch of a photograph.

As in Ganin & Lempitsky (ICML 2015), a target pixel is ``|patch - digit|`` per colour channel, the
patch cut at a random position from a random photograph. Photographs come from
``dataset.photos_dir`` (every .jpg/.jpeg/.png in it) or, offline by default, from the photograph
that ships with matplotlib (``grace_hopper.jpg``): one photo gives less texture variety than the
original BSDS500 set, so name a folder of your own photos for a closer match. The blended images
are generated once per input and cached under ``<data_root>/mnistm/``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import partial
from pathlib import Path

import torch

from dasuite.data.files import expand_root
from dasuite.errors import ConfigError

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def default_photos() -> list[Path]:
    import matplotlib

    return [Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"]


def load_photos(photos_dir) -> list[torch.Tensor]:
    """RGB uint8 (3, H, W) photographs from ``photos_dir``, or the packaged default."""
    import numpy as np
    from PIL import Image

    if photos_dir is None:
        paths = default_photos()
    else:
        folder = expand_root(photos_dir)
        paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in PHOTO_SUFFIXES) if folder.is_dir() else []
        if not paths:
            raise ConfigError(f"dataset.photos_dir={photos_dir} holds no {'/'.join(PHOTO_SUFFIXES)} photographs "
                              f"(looked in {folder}).")
    photos = []
    for path in paths:
        try:
            with Image.open(path) as image:
                photos.append(torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1))
        except OSError as error:
            raise ConfigError(f"cannot read the photograph {path}: {error}") from error
    return photos


def blend(x: torch.Tensor, photos: list[torch.Tensor], seed: int) -> torch.Tensor:
    """``|patch - digit|`` for each image of a uint8 (N, 3, H, W) batch, patches from ``photos``."""
    n, _, h, w = x.shape
    usable = [p for p in photos if p.shape[1] >= h and p.shape[2] >= w]
    if not usable:
        raise ConfigError(f"every photograph is smaller than the {h}×{w} images; use larger photographs.")
    generator = torch.Generator().manual_seed(seed)
    which = torch.randint(len(usable), (n,), generator=generator)
    out = torch.empty_like(x)
    for i in range(n):
        photo = usable[int(which[i])]
        top = int(torch.randint(photo.shape[1] - h + 1, (1,), generator=generator))
        left = int(torch.randint(photo.shape[2] - w + 1, (1,), generator=generator))
        patch = photo[:, top: top + h, left: left + w]
        out[i] = (patch.int() - x[i].int()).abs().to(torch.uint8)
    return out


def mnistm_shift(x: torch.Tensor, generator: torch.Generator, photos_dir=None, data_root="~/.cache/dasuite",
                 seed: int = 0) -> torch.Tensor:
    """The MNIST-M version of a 3-channel digit batch, read from the cache when made before."""
    del generator  # the blend is seeded from its input, so the cached result is reproducible
    if x.shape[1] != 3:
        raise ConfigError("mnist_mnistm makes colour images: set dataset.channels=3.")
    photos = load_photos(photos_dir)
    digest = hashlib.sha1(x.numpy().tobytes())
    for photo in photos:
        digest.update(photo.numpy().tobytes())
    digest.update(str(seed).encode())
    key = digest.hexdigest()[:16]
    path = expand_root(data_root) / "mnistm" / f"{key}.pt"
    if path.is_file():
        try:
            cached = torch.load(path, weights_only=True)
            if cached.shape == x.shape and cached.dtype == torch.uint8:
                return cached
        except (OSError, RuntimeError, EOFError):
            pass  # a damaged cache file is simply made again
    out = blend(x, photos, seed=int(key[:8], 16))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(out, tmp)
        os.replace(tmp, path)
    except OSError as error:  # e.g. a read-only data_root: the images are still right, just not cached
        log.warning("could not cache the MNIST-M images at %s (%s); they will be generated again next time",
                    path, error)
    return out


def mnist_mnistm(source, target, target_test, photos_dir=None, **settings):
    """MNIST → MNIST-M: the target roles are blended over photographs (see the module docstring)."""
    from dasuite.data.image_pair import image_pair

    shift = partial(mnistm_shift, photos_dir=photos_dir, data_root=settings.get("data_root", "~/.cache/dasuite"),
                    seed=settings.get("seed", 0))
    return image_pair(source, target, target_test, target_shift=shift, **settings)
