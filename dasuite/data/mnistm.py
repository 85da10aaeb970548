"""MNIST → MNIST-M: the released set (``released=true``), or an offline stand-in blended here.

The released MNIST-M (Ganin & Lempitsky, ICML 2015) is read from ``<data_root>/mnist_m/`` by
:func:`dasuite.data.digits.read_mnistm` (``download=true`` fetches it): its train split is the target
train set, its test split the target test set. The stand-in follows the paper's recipe instead: a
target pixel is ``|patch - digit|`` per colour channel, the patch cut at a random position from a
random photograph. The paper drew patches from BSDS500; offline, the photographs are every sample
photo the installed packages ship (:data:`PACKAGED_PHOTOS`: matplotlib's, scikit-learn's, and
scikit-image's when installed), or every .jpg/.jpeg/.png in ``dataset.photos_dir``. Blended images
are generated once per input and cached under ``<cache_dir>/mnistm_standin/`` (never ``data_root``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from functools import partial
from pathlib import Path

import torch

from dasuite.data.cache import cached_images
from dasuite.data.files import expand_root
from dasuite.errors import ConfigError

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
#: (package, file inside it): colour photographs shipped with Python packages; those installed are used.
#: scipy's ``face``/``ascent`` are not: scipy fetches them over the network (pooch), ascent as a pickle.
PACKAGED_PHOTOS = (
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/chelsea.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/rocket.jpg"),
    ("skimage", "data/motorcycle_left.png"),
)


def default_photos() -> list[Path]:
    """The packaged photographs that are installed here (found without importing the packages)."""
    found = []
    for package, relative in PACKAGED_PHOTOS:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            if (Path(location) / relative).is_file():
                found.append(Path(location) / relative)
                break
    if not found:
        raise ConfigError("the MNIST-M stand-in found no sample photographs in the installed packages (matplotlib "
                          "ships one); set dataset.photos_dir to a folder of .jpg/.png photographs, or use the "
                          "released set with dataset.released=true.")
    return found


def load_photos(photos_dir) -> list[torch.Tensor]:
    """RGB uint8 (3, H, W) photographs from ``photos_dir``, or the packaged ones."""
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


def mnistm_shift(x: torch.Tensor, generator: torch.Generator, photos_dir=None, cache_dir="~/.cache/dasuite",
                 seed: int = 0) -> torch.Tensor:
    """The MNIST-M stand-in of a 3-channel digit batch, read from the cache when made before."""
    del generator  # the blend is seeded from its input, so the cached result is reproducible
    if x.shape[1] != 3:
        raise ConfigError("mnist_mnistm makes colour images: set dataset.channels=3.")
    photos = load_photos(photos_dir)
    digest = hashlib.sha1(x.numpy().tobytes())
    for photo in photos:
        digest.update(photo.numpy().tobytes())
    digest.update(str(seed).encode())
    key = digest.hexdigest()[:16]
    path = expand_root(cache_dir) / "mnistm_standin" / f"{key}.pt"
    return cached_images(path, tuple(x.shape), lambda: blend(x, photos, seed=int(key[:8], 16)), "MNIST-M stand-in",
                         log)


def mnist_mnistm(source, target, target_test, photos_dir=None, released: bool = False,
                 cache_dir="~/.cache/dasuite", **settings):
    """MNIST → MNIST-M: the released set, or the target roles blended over photographs (module docstring)."""
    from dasuite.data.image_pair import image_pair

    if released:
        return image_pair(source, {"name": "mnistm", "split": "train"}, {"name": "mnistm", "split": "test"},
                          **settings)
    shift = partial(mnistm_shift, photos_dir=photos_dir, cache_dir=cache_dir, seed=settings.get("seed", 0))
    return image_pair(source, target, target_test, target_shift=shift, **settings)
