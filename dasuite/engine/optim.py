"""Optimizers and the learning-rate schedule, built from a method's param groups."""

from __future__ import annotations

import torch

from dasuite.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("dann", "inv", "constant")


def check_betas(betas) -> tuple[float, float]:
    """``trainer.betas``, Adam's (and AdamW's) two moment decay rates, each in [0, 1)."""
    values = None if isinstance(betas, (str, int, float)) or betas is None else list(betas)
    if (values is None or len(values) != 2 or any(isinstance(b, bool) or not isinstance(b, (int, float))
                                                   or not 0 <= b < 1 for b in values)):
        raise ConfigError(f"trainer.betas={betas!r} must be two numbers in [0, 1), e.g. [0.9, 0.999] (Adam's).")
    return float(values[0]), float(values[1])


class Frozen(torch.optim.Optimizer):
    """The optimizer of param groups that hold no parameter (a method that trains nothing in a stage, e.g. test-time
    BatchNorm statistics): the loop then calls the method without gradients and never steps. It holds one empty
    tensor so that schedules and checkpoints treat it as any optimizer."""

    def __init__(self):
        super().__init__([torch.zeros(0, requires_grad=True)], {"lr": 0.0})

    def step(self, closure=None) -> None:
        return None


def build_optimizer(name: str, groups: list[dict], lr: float, momentum: float, weight_decay: float,
                    betas: tuple[float, float] = (0.9, 0.999), nesterov: bool = True) -> torch.optim.Optimizer:
    """``lr_mult`` in a group scales ``lr`` for that group; ``betas`` are Adam's and AdamW's; ``nesterov``: SGD's
    Nesterov momentum (with ``momentum`` > 0; false: plain heavy-ball momentum). ``adamw`` decays the weights
    apart from the gradient step (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019),
    with ``weight_decay`` as its decay rate. Groups without a parameter: :class:`Frozen`."""
    groups = [{**{k: v for k, v in g.items() if k != "lr_mult"}, "params": list(g["params"]),
               "lr": lr * g.get("lr_mult", 1.0)} for g in groups]  # a generator of parameters is read once, here
    if not any(g["params"] for g in groups):
        return Frozen()
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay,
                               nesterov=nesterov and momentum > 0)
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas, weight_decay=weight_decay)
    raise ConfigError(f"trainer.optimizer={name!r} is not one of {', '.join(OPTIMIZERS)}.")


def scale_lr(groups: list[dict], chosen: set[int], mult: float) -> list[dict]:
    """Param groups with the parameters whose ``id`` is in ``chosen`` split off at ``lr_mult`` × ``mult``: the
    backbone's own layers (:func:`body_ids`) at ``trainer.backbone_lr_mult`` (0.1 for a pretrained backbone under
    new layers, as TLL and SHOT train), the biases at ``trainer.bias_lr_mult`` (CDTrans: 2)."""
    if mult == 1:
        return groups
    split = []
    for group in groups:
        params = list(group["params"])
        for part, factor in (([p for p in params if id(p) not in chosen], 1.0),
                             ([p for p in params if id(p) in chosen], mult)):
            if part:
                split.append({**group, "params": part, "lr_mult": group.get("lr_mult", 1.0) * factor})
    return split


def body_ids(backbone: torch.nn.Module) -> set[int]:
    """The ``id``s of the backbone's own layers, which ``trainer.backbone_lr_mult`` scales: the parameters its
    ``body_parameters()`` declares (dasuite's backbones: all but the bottleneck added on top), or all of them
    for a backbone that declares nothing."""
    declared = getattr(backbone, "body_parameters", backbone.parameters)
    return {id(p) for p in declared()}


def bias_ids(module: torch.nn.Module) -> set[int]:
    """The ``id``s of ``module``'s biases: the parameters whose own name contains "bias" (Linear, convolution and
    norm biases, attention's ``in_proj_bias``), as CDTrans' solver/make_optimizer.py picks them."""
    return {id(p) for name, p in module.named_parameters() if "bias" in name.rpartition(".")[2]}


#: ``trainer.lr_alpha`` when null: the papers' value for each schedule (DANN's 10 over progress, Caffe's 0.001 per step)
DEFAULT_ALPHA = {"dann": 10.0, "inv": 0.001, "constant": 0.0}


def build_schedule(name: str, optimizer: torch.optim.Optimizer, total_steps: int, alpha: float | None,
                   beta: float) -> torch.optim.lr_scheduler.LambdaLR:
    """``dann``: lr_p = lr / (1 + alpha * p) ** beta with p = step / total_steps (Ganin et al. 2016);
    ``inv``: lr_i = lr / (1 + alpha * i) ** beta with i the stage's step (Caffe's "inv" policy, which the
    CDAN and Transfer-Learning-Library recipes use with alpha = 0.001, beta = 0.75). ``alpha=None``: the
    schedule's own (:data:`DEFAULT_ALPHA`)."""
    alpha = DEFAULT_ALPHA.get(name, 0.0) if alpha is None else alpha
    if name == "dann":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: (1.0 + alpha * min(step / total_steps, 1.0)) ** (-beta))
    if name == "inv":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1.0 + alpha * step) ** (-beta))
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ConfigError(f"trainer.lr_schedule={name!r} is not one of {', '.join(SCHEDULES)}.")
