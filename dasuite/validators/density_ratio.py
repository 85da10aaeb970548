"""Importance weights p_target(x) / p_source(x) of source samples, from a domain classifier on features.

A logistic-regression classifier tells source features (0) from target features (1); with
P(target | x) from it, the density ratio is P(target | x) / P(source | x) · n_source / n_target
(Bickel et al., "Discriminative Learning Under Covariate Shift", JMLR 2009). Weights are
cross-fitted: each half of the source samples is weighted by a classifier fit on the other halves
of both sets, so no weight comes from a classifier that saw that sample.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

FOLDS = 2


def density_ratios(source: torch.Tensor, target: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(Ns,) weights, float64."""
    rng = np.random.default_rng(seed)
    source_fold = rng.permutation(len(source)) % FOLDS
    target_fold = rng.permutation(len(target)) % FOLDS
    xs, xt = source.numpy(), target.numpy()
    weights = np.empty(len(source))
    for fold in range(FOLDS):
        fit_s, fit_t = xs[source_fold != fold], xt[target_fold != fold]
        x = np.concatenate([fit_s, fit_t])
        y = np.concatenate([np.zeros(len(fit_s)), np.ones(len(fit_t))])
        scaler = StandardScaler().fit(x)
        classifier = LogisticRegression(max_iter=1000).fit(scaler.transform(x), y)
        p_target = classifier.predict_proba(scaler.transform(xs[source_fold == fold]))[:, 1].clip(1e-6, 1 - 1e-6)
        weights[source_fold == fold] = p_target / (1 - p_target) * len(fit_s) / len(fit_t)
    return torch.from_numpy(weights)
