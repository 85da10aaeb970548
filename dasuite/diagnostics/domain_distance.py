"""Proxy A-distance between the source and target features of a model.

d_A = 2 (1 − 2ε), with ε the held-out error of a linear classifier trained to tell source features from
target features (Ben-David et al., "Analysis of representations for domain adaptation", NeurIPS 2007;
"A theory of learning from different domains", Machine Learning 2010; used to compare representations
in Ganin et al., "Domain-adversarial training of neural networks", JMLR 2016). 0 (or below, by chance):
the domains cannot be told apart linearly; 2: they are perfectly separable.
"""

from __future__ import annotations

import numpy as np


def proxy_a_distance(features: np.ndarray, domain: np.ndarray, seed: int = 0) -> float:
    """d_A of ``features`` (n, d) whose ``domain`` (n,) is 0 (source) or 1 (target).

    Both domains are subsampled to the same size (so chance is ε = 0.5), split 50/50 per domain
    (seeded), standardised on the training half, and a logistic regression is fit on that half; ε
    is its error on the other half.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(domain == d) for d in (0, 1)]
    n = min(len(g) for g in groups)
    if n < 4:
        raise ValueError(f"the proxy A-distance needs at least 4 samples per domain, there are {n}")
    train, test = [], []
    for group in groups:
        picked = rng.permutation(group)[:n]
        train.append(picked[: n // 2])
        test.append(picked[n // 2:])
    train, test = np.concatenate(train), np.concatenate(test)
    scaler = StandardScaler().fit(features[train])
    classifier = LogisticRegression(max_iter=1000).fit(scaler.transform(features[train]), domain[train])
    error = 1.0 - classifier.score(scaler.transform(features[test]), domain[test])
    return 2.0 * (1.0 - 2.0 * error)
