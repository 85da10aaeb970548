"""A run's model from its config: the backbone and the method on it (for train, predict and export)."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from dasuite.errors import check_number


def build_method(cfg: DictConfig, input_shape: Sequence[int], num_classes: int):
    """``backbone`` and ``method`` of ``cfg`` instantiated for the pair's inputs and classes.

    ``method.target_label_weight`` and ``method.head_hidden`` are no constructor arguments: every method
    takes them through the base class (the weight of the cross-entropy on the k labeled target samples per
    class, and the hidden sizes of the classifier head).
    """
    from dasuite.methods.base import check_sizes

    from hydra.utils import instantiate

    settings = OmegaConf.to_container(cfg.method, resolve=True)
    weight = check_number("method.target_label_weight", settings.pop("target_label_weight", 1.0), minimum=0,
                          hint=" (it weights the cross-entropy on the labeled target samples)")
    head_hidden = check_sizes("head_hidden", settings.pop("head_hidden", []))
    backbone = instantiate(cfg.backbone, input_shape=tuple(input_shape))
    method = instantiate(settings, backbone=backbone, num_classes=num_classes)
    method.target_label_weight = weight
    method.set_head(head_hidden)
    return method
