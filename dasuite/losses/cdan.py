"""Conditional domain adversarial loss (CDAN: Long et al., "Conditional Adversarial Domain
Adaptation", NeurIPS 2018).

The discriminator sees the multilinear map of the features f (d) and the class probabilities
g = softmax(logits) (C), so that it aligns the joint distribution of features and predictions:

    T⊗(f, g) = g ⊗ f = vec(g fᵀ)                      (d·C values; g is detached, as in the paper's code)
    T⊙(f, g) = (R_f f) ⊙ (R_g g) / sqrt(k)            (randomized variant, k values, when d·C is too large;
                                                        R_f, R_g fixed Gaussian matrices)

    L = 1/2 [ Σ_s w_i BCE(D(R_λ(T_i)), 1) / Σ_s w_i + Σ_t w_i BCE(D(R_λ(T_i)), 0) / Σ_t w_i ]

with R_λ gradient reversal. Without entropy conditioning w_i = 1. CDAN+E weights each sample by
w_i = 1 + exp(-H(g_i)), so that samples with confident predictions count more; the two sources of it differ
in two ways, each an option here:

* ``normalisation="domain"`` (the authors' code, thuml/CDAN at c904cd3f, ``pytorch/loss.py`` ``CDAN``): the
  weights are normalised to sum to 1 within each domain's batch, as in L above;
  ``"joint"`` (thuml/Transfer-Learning-Library at c4aa59eb, ``tllib/alignment/cdan.py``): over both domains
  together, L = Σ_i w_i BCE_i / Σ_i w_i, so the domain with more confident predictions weighs more.
* ``entropy_gradient=True`` (thuml/CDAN: the entropy keeps its graph and ``entropy.register_hook(grl_hook(coeff))``
  reverses its gradient): the weights pass a gradient to the classifier through H(g), reversed and scaled by
  the same λ; the normalising sums carry none. ``False`` (TLL: g is detached): the weights are constants.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dasuite.losses.entropy import entropy
from dasuite.losses.grl import grad_reverse


def multilinear_map(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """(N, C·d) outer products g_i ⊗ f_i, flattened: entry [i, c·d + j] = g[i, c] · f[i, j]."""
    return (g.unsqueeze(2) * f.flatten(1).unsqueeze(1)).flatten(1)


class MultilinearMap(nn.Module):
    """T⊗(f, g), or its randomized approximation T⊙ when ``num_features · num_classes > max_dim``
    (``max_dim=None``: never, the official code's default).

    ``out_features`` is the width the discriminator must take. The random matrices are buffers
    (saved with the model, never trained), drawn from ``torch``'s global generator at construction.
    """

    def __init__(self, num_features: int, num_classes: int, max_dim: int | None = 4096, randomized_dim: int = 1024):
        super().__init__()
        if min(num_features, num_classes, randomized_dim) < 1 or (max_dim is not None and max_dim < 0):
            raise ValueError(f"num_features={num_features}, num_classes={num_classes} and "
                             f"randomized_dim={randomized_dim} must be >= 1, max_dim={max_dim} >= 0.")
        self.randomized = max_dim is not None and num_features * num_classes > max_dim
        if self.randomized:
            self.register_buffer("random_f", torch.randn(num_features, randomized_dim))
            self.register_buffer("random_g", torch.randn(num_classes, randomized_dim))
            self.out_features = randomized_dim
        else:
            self.out_features = num_features * num_classes

    def forward(self, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        if not self.randomized:
            return multilinear_map(f, g)
        return (f.flatten(1) @ self.random_f) * (g @ self.random_g) / math.sqrt(self.out_features)


#: How CDAN+E normalises its entropy weights (see the module docstring).
NORMALISATIONS = ("domain", "joint")


class ConditionalDomainAdversarialLoss(nn.Module):
    """CDAN's loss: ``forward(f_s, logits_s, f_t, logits_t, coeff)``; ``coeff`` is the reversal weight λ.

    ``discriminator`` maps ``conditioning.out_features`` values to one logit (source > 0). With
    ``entropy_conditioning`` (CDAN+E), ``normalisation`` and ``entropy_gradient`` choose between the authors'
    code (``domain``, True) and Transfer-Learning-Library's (``joint``, False).
    """

    def __init__(self, discriminator: nn.Module, conditioning: MultilinearMap, entropy_conditioning: bool = False,
                 normalisation: str = "domain", entropy_gradient: bool = True):
        super().__init__()
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation={normalisation!r} must be one of {', '.join(NORMALISATIONS)}.")
        self.discriminator = discriminator
        self.conditioning = conditioning
        self.entropy_conditioning = entropy_conditioning
        self.normalisation = normalisation
        self.entropy_gradient = entropy_gradient

    def forward(self, f_s: torch.Tensor, logits_s: torch.Tensor, f_t: torch.Tensor, logits_t: torch.Tensor,
                coeff: float = 1.0) -> torch.Tensor:
        logits = torch.cat([logits_s, logits_t])
        g = F.softmax(logits, dim=1).detach()
        h = self.conditioning(torch.cat([f_s.flatten(1), f_t.flatten(1)]), g)
        d = self.discriminator(grad_reverse(h, coeff)).squeeze(1)
        n = len(f_s)
        labels = torch.cat([torch.ones(n, device=d.device), torch.zeros(len(d) - n, device=d.device)])
        bce = F.binary_cross_entropy_with_logits(d, labels.to(d.dtype), reduction="none")
        if not self.entropy_conditioning:
            return 0.5 * (bce[:n].mean() + bce[n:].mean())
        h_g = grad_reverse(entropy(F.softmax(logits, dim=1)), coeff) if self.entropy_gradient else entropy(g)
        weight = 1.0 + torch.exp(-h_g)
        if self.normalisation == "joint":
            return (weight * bce).sum() / weight.detach().sum()
        w_s, w_t = weight[:n], weight[n:]
        return 0.5 * ((w_s * bce[:n]).sum() / w_s.detach().sum() + (w_t * bce[n:]).sum() / w_t.detach().sum())
