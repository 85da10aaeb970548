"""Backbone features of held-out samples of both domains: what the t-SNE plots and the proxy
A-distance read.

The samples are a seeded subsample (at most ``limit`` each) of the source validation set and the
target test set, the two sets no training step sees. Target test labels are kept only to colour a plot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dasuite.data import DomainPair
from dasuite.engine.evaluate import batches

DOMAINS = ("source val", "target test")


@dataclass
class Embedding:
    features: np.ndarray  # (n, d) float32
    domain: np.ndarray  # (n,) 0: source validation, 1: target test
    labels: np.ndarray  # (n,) class labels (target labels colour plots, nothing else)

    def sample(self, per_domain: int, seed: int) -> Embedding:
        """At most ``per_domain`` seeded points of each domain, in their order."""
        rng = np.random.default_rng(seed)
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(self.domain == d))[:per_domain]
                                       for d in (0, 1)]))
        return Embedding(self.features[keep], self.domain[keep], self.labels[keep])


@torch.inference_mode()
def embed(method, pair: DomainPair, device: torch.device, batch_size: int, seed: int, limit: int = 500) -> Embedding:
    """``method.features`` (in eval mode) of at most ``limit`` seeded samples of each domain.

    Draws from its own generator, so the run's random streams are the same with plots on or off.
    """
    was_training = method.training
    method.to(device).eval()
    features, domain, labels = [], [], []
    try:
        for d, data in enumerate((pair.source_val, pair.target_test)):
            order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed * 2 + d))
            sample = data.subset(order[:limit].sort().values)
            for x, y in batches(sample, batch_size, device):
                features.append(method.features(pair.prepare(x)).flatten(1).float().cpu().numpy())
                labels.append(y.cpu().numpy())
            domain.append(np.full(len(sample), d))
    finally:
        method.train(was_training)
    if not features:
        raise ValueError("source validation and target test are both empty")
    return Embedding(np.concatenate(features), np.concatenate(domain), np.concatenate(labels))


def tsne(embedding: Embedding, seed: int) -> np.ndarray:
    """2-D t-SNE coordinates of the features (van der Maaten & Hinton, JMLR 2008; scikit-learn's)."""
    from sklearn.manifold import TSNE

    n = len(embedding.features)
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 samples, the held-out sets have {n}")
    perplexity = min(30.0, (n - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", max_iter=500,
                random_state=seed).fit_transform(embedding.features)
