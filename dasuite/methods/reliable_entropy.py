"""The entropy of a prediction and the reliable-sample filter of EATA and SAR: a test sample whose prediction's
entropy reaches E0 = ``margin`` · ln C (C classes) gives noisy, harmful gradients and is left out (EATA, Niu et
al., ICML 2022, section 3.1, Eqn. 3; SAR, Niu et al., ICLR 2023, section 4, Eqn. 2; both set E0 = 0.4 · ln 1000
on ImageNet: mr-eggplant/EATA ``main.py`` ``--e_margin``, mr-eggplant/SAR ``main.py`` ``--sar_margin_e0``)."""

from __future__ import annotations

import math

import torch

from dasuite.errors import ConfigError, check_number


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """The entropy of each row's softmax, in nats."""
    return -(logits.softmax(1) * logits.log_softmax(1)).sum(1)


def entropy_margin(key: str, fraction: float, num_classes: int) -> float:
    """E0 = ``fraction`` · ln C, ``fraction`` being the setting ``method.<key>`` (a positive number)."""
    fraction = check_number(f"method.{key}", fraction)
    if not fraction > 0:
        raise ConfigError(f"method.{key}={fraction} must be > 0: the entropy margin E0 as a fraction of ln C "
                          "(0.4: EATA's and SAR's).")
    return fraction * math.log(num_classes)


def masked_mean(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` where ``keep``; zero, still on the graph, where nothing is kept (its gradient is zero)."""
    return values[keep].sum() / keep.sum().clamp(min=1)
