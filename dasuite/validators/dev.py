"""``dev``: deep embedded validation, the negated IWCV risk with a control variate.

You et al., "Towards Accurate Model Selection in Deep Unsupervised Domain Adaptation", ICML 2019:
with weighted losses L = w·ℓ and weights w (whose true mean is 1), the estimate
mean(L) + η·mean(w) − η with η = −Cov(L, w) / Var(w) has lower variance than IWCV's mean(L).
"""

import torch

from dasuite.validators.outputs import Outputs


def dev(outputs: Outputs) -> float:
    w = outputs.importance_weights
    weighted = w * outputs.source_losses
    variance = w.var()
    eta = -torch.cov(torch.stack([weighted, w]))[0, 1] / variance if variance > 0 else torch.zeros(())
    return -(weighted.mean() + eta * w.mean() - eta).item()
