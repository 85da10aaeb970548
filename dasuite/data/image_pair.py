"""Assemble an image pair from named domains: which dataset and split plays which role.

A pair config names three roles, each ``{name: <domain>, split: train|test}``::

    source:      {name: mnist, split: train}    # labeled source pool (val split held out of it)
    target:      {name: usps,  split: train}    # unlabeled target train
    target_test: {name: usps,  split: test}     # labels used only for evaluation

Roles that name the same domain *and* split share it disjointly: its images are shuffled (seeded by
``dataset.seed``) and dealt into equal parts, so no image is in two roles (MNIST → shifted MNIST from
the one MNIST split these machines have, or a target split cut into target train and target test).
Every image is then resized to ``image_size`` and converted to ``channels``; ``target_shift`` (a
function of a uint8 batch and a generator) turns the target roles into the shifted domain.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

import torch

from dasuite.data.images import Preprocess, RawImages, check_image_settings, fit_images
from dasuite.data.pair import Domains, Labeled
from dasuite.errors import ConfigError

#: Domain name -> "module:reader"; a reader is ``(data_root, split, download) -> RawImages``.
READERS = {
    "mnist": "dasuite.data.digits:read_mnist",
    "usps": "dasuite.data.digits:read_usps",
    "svhn": "dasuite.data.digits:read_svhn",
    "cifar10": "dasuite.data.cifar:read_cifar10",
    "mnistm": "dasuite.data.digits:read_mnistm",  # the released MNIST-M (mnist_mnistm's released=true)
}
SPLITS = ("train", "test")
ROLES = ("source", "target", "target_test")

Shift = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def read_domain(name: str, split: str, data_root, download: bool) -> RawImages:
    module, function = READERS[name].split(":")
    return getattr(importlib.import_module(module), function)(data_root, split, download)


def image_pair(source: Mapping, target: Mapping, target_test: Mapping, image_size: int = 28, channels: int = 1,
               data_root="~/.cache/dasuite", download: bool = False, seed: int = 0,
               mean=(0.5,), std=(0.5,), augment: str = "none", target_shift: Shift | None = None) -> Domains:
    """Read each role's domain, deal shared splits, fit sizes and channels, shift the target roles."""
    check_image_settings(image_size, channels)
    preprocess = Preprocess(mean, std, augment, channels)
    specs = {role: role_spec(role, spec) for role, spec in zip(ROLES, (source, target, target_test))}
    generator = torch.Generator().manual_seed(int(seed))
    loaded: dict[tuple[str, str], RawImages] = {}
    for key in dict.fromkeys(specs.values()):
        loaded[key] = read_domain(*key, data_root, download)
    parts = _deal(specs, loaded, generator)
    domains = {}
    for role, (x, y) in parts.items():
        x = fit_images(x, image_size, channels)
        if role != "source" and target_shift is not None:
            x = target_shift(x, generator)
            if x.shape[1] != channels:
                raise ConfigError(f"this target shift makes {x.shape[1]}-channel images; set "
                                  f"dataset.channels={x.shape[1]}.")
        domains[role] = Labeled(x, y)
    names = loaded[specs["source"]].class_names
    for role in ("target", "target_test"):
        if loaded[specs[role]].class_names != names:
            raise ConfigError(f"dataset.{role} ({specs[role][0]}) has classes {loaded[specs[role]].class_names}, "
                              f"the source ({specs['source'][0]}) has {names}; a pair needs the same classes.")
    return Domains(source=domains["source"], target=domains["target"], target_test=domains["target_test"],
                   num_classes=len(names), input_shape=(channels, image_size, image_size), class_names=names,
                   preprocess=preprocess)


def role_spec(role: str, spec: Mapping) -> tuple[str, str]:
    name, split = spec.get("name"), spec.get("split")
    if name not in READERS:
        raise ConfigError(f"dataset.{role}.name={name!r} is not a known domain; choose one of "
                          f"{', '.join(READERS)}.")
    if split not in SPLITS:
        raise ConfigError(f"dataset.{role}.split={split!r} must be one of {', '.join(SPLITS)}.")
    return name, split


def _deal(specs: dict, loaded: dict, generator: torch.Generator) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each role's images; roles naming the same split get disjoint, equal shares of it."""
    parts = {}
    for key, data in loaded.items():
        roles = [role for role, spec in specs.items() if spec == key]
        order = torch.randperm(len(data.y), generator=generator) if len(roles) > 1 else torch.arange(len(data.y))
        for role, index in zip(roles, order.tensor_split(len(roles))):
            parts[role] = (data.x[index], data.y[index])
    return parts
