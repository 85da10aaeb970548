"""What a run's config builds: its dataset pair, and its model (the backbone and the method on it), for
train, eval, predict and export. Hydra's instantiate is called here, so dasuite.data and dasuite.methods
never read a config."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from dasuite.errors import ConfigError, check_number


def build_pair(cfg: DictConfig):
    """The :class:`~dasuite.data.pair.DomainPair` of ``cfg`` (a ``dataset`` node): the pair module named by its
    ``_target_``, called with its other keys, and split by :func:`~dasuite.data.pair.split`."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from dasuite.data.pair import SPLIT_KEYS, split

    settings = OmegaConf.to_container(cfg, resolve=True)
    try:
        domains = instantiate({k: v for k, v in settings.items() if k not in SPLIT_KEYS})
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


def build_method(cfg: DictConfig, input_shape: Sequence[int], num_classes: int):
    """``backbone`` and ``method`` of ``cfg`` instantiated for the pair's inputs and classes.

    A method built on another (self-training's ``method.base=dann``) gets it as a nested ``_target_``
    config (:mod:`dasuite.config.nested_methods`). ``method.target_label_weight`` and ``method.head_hidden``
    are no constructor arguments: every method takes them through the base class (the weight of the
    cross-entropy on the k labeled target samples per class, and the hidden sizes of the classifier head).
    """
    from hydra.utils import instantiate

    from dasuite.config.nested_methods import expand
    from dasuite.methods.base import check_sizes

    settings = expand(OmegaConf.to_container(cfg.method, resolve=True))  # a stored config may name its base
    weight = check_number("method.target_label_weight", settings.pop("target_label_weight", 1.0), minimum=0,
                          hint=" (it weights the cross-entropy on the labeled target samples)")
    head_hidden = check_sizes("head_hidden", settings.pop("head_hidden", []))
    backbone = instantiate(cfg.backbone, input_shape=tuple(input_shape))
    method = instantiate(settings, backbone=backbone, num_classes=num_classes)
    method.target_label_weight = weight
    method.set_head(head_hidden)
    return method
