"""Image pairs whose target roles are generated corruptions of the source domain (``mnist_corrupted``,
``cifar10_shifted``): one corruption at one severity, or a stream of them in order.

The roles are dealt as :func:`~dasuite.data.image_pair.image_pair` deals them: roles that name the same split
(``mnist_corrupted``: all three name MNIST's test split) get disjoint shares, shuffled by ``dataset.seed``, so
the source model never sees a clean copy of a target image, and the same seed deals the same shares whatever
the corruption. Each target role is then corrupted clean: for a stream
(``dataset.corruption=[a, b, c]`` or ``all``) it is every corruption of :func:`corruption_plan` applied in
turn to the same clean images and concatenated in that order, as CIFAR-10-C streams are (rows
``[i n, (i + 1) n)`` are the ``i``-th corruption, ``n`` the role's clean size). The randomness of each
(role, corruption, severity) is seeded from ``dataset.seed`` alone, so a set does not depend on the others
in its stream; generated sets are cached under ``<cache_dir>/corruptions/`` (never ``data_root``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging

import torch

from dasuite.data.cache import cached_images
from dasuite.data.corruptions import corrupt, corruption_plan
from dasuite.data.files import expand_root
from dasuite.data.image_pair import image_pair
from dasuite.data.pair import Domains, Labeled

log = logging.getLogger(__name__)
VERSION = 1  # part of every cache key: raise it when a corruption's output changes


def corrupted_stream(clean: Labeled, plan: list[tuple[str, int]], seed: int, role: str, cache_dir=None) -> Labeled:
    """The ``plan``'s corruptions of ``clean``, concatenated in order (labels repeated); cached when
    ``cache_dir`` is given."""
    parts = []
    for name, severity in plan:
        key = f"{VERSION}/{seed}/{role}/{name}/{severity}"
        generator = torch.Generator().manual_seed(int(hashlib.sha1(key.encode()).hexdigest()[:15], 16))

        def make(name=name, severity=severity, generator=generator):
            return corrupt(clean.x, generator, name, severity)

        if cache_dir is None:
            parts.append(make())
            continue
        digest = hashlib.sha1(clean.x.numpy().tobytes())
        digest.update(key.encode())
        path = expand_root(cache_dir) / "corruptions" / f"{name}-{severity}-{digest.hexdigest()[:16]}.pt"
        parts.append(cached_images(path, tuple(clean.x.shape), make, f"{name} severity {severity}", log))
    return Labeled(torch.cat(parts), clean.y.repeat(len(plan)))


def corrupted_pair(source, target, target_test, corruption="gaussian_noise", severity: int | list = 5,
                   cache_dir="~/.cache/dasuite", seed: int = 0, **settings) -> Domains:
    """The image pair of the three roles, its target roles under ``corruption`` at ``severity`` (module
    docstring; the choices: :func:`~dasuite.data.corruptions.corruption_plan`)."""
    plan = corruption_plan(corruption, severity)
    domains = image_pair(source, target, target_test, seed=seed, **settings)
    return dataclasses.replace(
        domains, target=corrupted_stream(domains.target, plan, seed, "target", cache_dir),
        target_test=corrupted_stream(domains.target_test, plan, seed, "target_test", cache_dir),
        target_test_segments=[(f"{name}_{level}", len(domains.target_test)) for name, level in plan])
