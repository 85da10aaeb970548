"""Config -> the dataset pair: the pair module a ``dataset`` node names, called with its other keys and split
into training, validation and test sets."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from dasuite.errors import ConfigError


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
