"""Self-training with confident pseudo-labels, alone or on top of another method.

    L = L_base + trade_off · 1/N Σ_i 1[max_k p_ik >= threshold] · CE(z_i, argmax_k p_ik)

on each target batch, with z the logits of the model's prediction and p = softmax(z) (no gradient
through the labels; :class:`dasuite.losses.ConfidentPseudoLabelLoss`).

Composition instead of branching: ``base`` names another method's YAML in ``configs/method/``
(``null``: ``source_only``), which is instantiated on the same backbone, with ``base_args``
merged over that file's keys (``+method.base_args.trade_off=0.3`` on the command line). Self-
training then *is* the base method plus one term: it runs the base's stages and optimizers, adds
the pseudo-label term to the base's :data:`~dasuite.methods.base.MAIN` step in every stage that
draws target data, and predicts as the base does. A base that never draws target data
(``source_only``) gets the target set added to its source stages, so the term has data.
"""

from __future__ import annotations

import dataclasses

from omegaconf import DictConfig, OmegaConf

from dasuite.errors import ConfigError, check_number
from dasuite.losses import ConfidentPseudoLabelLoss
from dasuite.methods.base import MAIN, Batch, Method, Stage, StepContext, check_trade_off


def build_base(name: str, backbone, num_classes: int, overrides: dict | None = None, key: str = "method.base") -> Method:
    """Instantiate the method of ``configs/method/<name>.yaml`` (with ``overrides``) on ``backbone``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from dasuite.catalog import choices, config_dir

    valid = choices("method")
    if name not in valid:
        raise ConfigError(f"{key}={name!r} is not a method; choose one of {', '.join(valid)}.")
    cfg = OmegaConf.load(config_dir() / "method" / f"{name}.yaml")
    if "_target_" not in cfg and "method" in cfg:  # a `# @package _global_` file: its method: block
        cfg = cfg.method
    _check_keys(name, cfg._target_, overrides or {}, key)
    cfg = OmegaConf.merge({k: v for k, v in cfg.items() if k != "defaults"}, overrides or {})
    try:
        return instantiate(cfg, backbone=backbone, num_classes=num_classes)
    except InstantiationException as error:
        cause = error
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, ConfigError):
            raise ConfigError(f"{key}={name}: {cause}") from None
        raise


def _check_keys(name: str, target: str, overrides: dict, key: str) -> None:
    """Reject a base-method setting that the base method does not have, naming its valid keys."""
    import dataclasses

    from dasuite.schema import settings_class

    settings, open_ended = settings_class("method", target)
    common = ("_target_", "target_label_weight", "head_hidden")
    valid = [f.name for f in dataclasses.fields(settings) if f.name not in common]
    unknown = [k for k in overrides if k not in valid]
    if unknown and not open_ended:
        raise ConfigError(f"{key}_args.{unknown[0]} is not a setting of method {name}; its keys are "
                          f"{', '.join(valid)}.")


class SelfTraining(Method):
    """A base method's losses + trade_off · confident pseudo-label cross-entropy on target."""

    def __init__(self, backbone, num_classes: int, base: str | None = None, base_args: dict | None = None,
                 threshold: float = 0.9, trade_off: float = 1.0):
        if base == "self_training":
            raise ConfigError("method.base=self_training: self-training cannot be its own base; "
                              "pick another method (or null for source_only).")
        if base_args is not None and not isinstance(base_args, (dict, DictConfig)):
            raise ConfigError(f"method.base_args={base_args!r} must be a mapping of the base method's keys.")
        base_method = build_base(base or "source_only", backbone, num_classes,
                                   OmegaConf.to_container(base_args) if isinstance(base_args, DictConfig) else base_args)
        super().__init__(backbone, num_classes)
        self.base = base_method
        self.head = base_method.head  # the same module: self.backbone/self.head are the base's
        self.requires_target_labels = base_method.requires_target_labels
        self.trade_off = check_trade_off(trade_off)
        threshold = check_number("method.threshold", threshold)
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"method.threshold={threshold} must lie in [0, 1] (a softmax confidence).")
        self.pseudo_label_loss = ConfidentPseudoLabelLoss(threshold)

    def stages(self) -> list[Stage]:
        stages = self.base.stages()
        if any("target" in s.draws for s in stages):
            return stages
        return [dataclasses.replace(s, draws=(*s.draws, "target")) if "source" in s.draws else s for s in stages]

    def param_groups(self, stage: Stage):
        return self.base.param_groups(stage)

    def begin_epoch(self, stage: Stage, epoch: int, inputs) -> None:
        self.base.begin_epoch(stage, epoch, inputs)

    def training_step(self, batch: Batch, ctx: StepContext):
        terms = dict(self.base.training_step(batch, ctx))
        if ctx.optimizer == MAIN and batch.xt is not None:
            terms["pseudo"] = self.trade_off * self.pseudo_label_loss(self.base.predict(batch.xt))
        return terms

    def set_head(self, hidden) -> None:
        self.base.set_head(hidden)
        self.head = self.base.head

    def features(self, x):
        return self.base.features(x)

    def predict(self, x):
        return self.base.predict(x)

    def embed(self, x):
        return self.base.embed(x)
