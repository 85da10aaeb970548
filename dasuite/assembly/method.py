"""Config -> the model: the backbone a ``backbone`` node names, built for the pair's inputs, and the method a
``method`` node names on it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from dasuite.errors import check_number


def build_method(cfg: DictConfig, input_shape: Sequence[int], num_classes: int):
    """``backbone`` and ``method`` of ``cfg`` instantiated for the pair's inputs and classes.

    A method built on another (self-training's ``method.base=dann``) gets it as a nested ``_target_``
    config (:mod:`dasuite.assembly.nested_methods`). ``method.target_label_weight`` and ``method.head_hidden``
    are no constructor arguments: every method takes them through the base class (the weight of the
    cross-entropy on the k labeled target samples per class, and the hidden sizes of the classifier head).
    """
    from hydra.utils import instantiate

    from dasuite.assembly.nested_methods import expand
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


def without_weights(backbone_cfg: DictConfig) -> DictConfig:
    """A ``backbone`` node that builds the same network without reading pretrained weights (the weights come
    from a checkpoint, or only the sizes matter)."""
    cfg = copy.deepcopy(backbone_cfg)
    with open_dict(cfg):
        for key, value in (("pretrained", False), ("weights_path", None), ("download", False)):
            if key in cfg:
                cfg[key] = value
    return cfg


def backbone_builder(backbone_cfg: DictConfig) -> Callable[[tuple[int, ...]], object]:
    """``shape -> backbone``: the backbone of ``backbone_cfg`` for inputs of another shape, without pretrained
    weights (what :func:`dasuite.engine.model_size.size_warning` compares a model's size with)."""
    from hydra.utils import instantiate

    cfg = without_weights(backbone_cfg)
    return lambda shape: instantiate(cfg, input_shape=tuple(shape))
