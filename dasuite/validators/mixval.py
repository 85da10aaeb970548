"""``mixval``: how consistently a model classifies mixed target samples (higher is better).

Hu, Liang, Liew, Xue, Bai & Wang, "Mixed Samples as Probes for Unsupervised Model Selection in
Domain Adaptation", NeurIPS 2023 (code: github.com/LHXXHB/MixVal). Each target sample i gets the
hard pseudo-label ŷ_i = argmax of the model's prediction and is mixed, at the paper's fixed ratio
λ = 0.55, with a partner j: x̃ = λ·x_i + (1 − λ)·x_j, whose pseudo-label is ŷ_i (λ > 1/2). The
interpolation consistency evaluation is the model's accuracy on these probes:

    ICE = mean over probes of [argmax_c f(x̃)_c = ŷ_i]

once with partners of the same pseudo-label (intra-cluster probes: is the cluster dense?) and once
with partners of another (inter-cluster probes: is the boundary between clusters?), and

    MixVal = (ICE_intra + ICE_inter) / 2

(the official code reports the two from separate scripts; skada's ``MixValScorer`` averages them).
Every target sample anchors one probe, so MixVal costs one forward pass per target sample (the
official code probes each sample once per kind, twice the cost): in each predicted class, shuffled by
a generator seeded with ``Outputs.seed``, the first half (rounded down) anchors intra-cluster probes,
each partnered with the next member, and the rest anchor inter-cluster probes, each partnered with a
sample drawn uniformly from the other predicted classes. NaN when one kind has no probe (a single
class predicted), or when there is no model to probe (``Outputs.probe`` is None).
"""

from __future__ import annotations

import math

import torch

from dasuite.validators.outputs import Outputs

RATIO = 0.55


def mixval(outputs: Outputs) -> float:
    if outputs.probe is None:
        return math.nan
    labels = outputs.target_logits.argmax(1)
    ice = []
    for anchors, partners in probes(labels, torch.Generator().manual_seed(outputs.seed)):
        if len(anchors) == 0:
            return math.nan
        predicted = outputs.probe(anchors, partners, RATIO).argmax(1)
        ice.append((predicted == labels[anchors]).double().mean().item())
    return sum(ice) / 2


def probes(labels: torch.Tensor, generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(anchors, partners) index tensors of the intra-cluster probes, then of the inter-cluster ones."""
    n = len(labels)
    shuffled = torch.randperm(n, generator=generator)
    order = shuffled[labels[shuffled].argsort(stable=True)]  # class by class, shuffled within each
    counts = torch.bincount(labels)
    blocks = order.split(counts.tolist())
    intra = (torch.cat([m[: len(m) // 2] for m in blocks]), torch.cat([m[1: len(m) // 2 + 1] for m in blocks]))
    anchors = torch.cat([m[len(m) // 2:] for m in blocks])
    own_start, own_count = (counts.cumsum(0) - counts)[labels[anchors]], counts[labels[anchors]]
    draw = (torch.rand(len(anchors), generator=generator, dtype=torch.float64) * (n - own_count)).long()
    position = draw + own_count * (draw >= own_start)  # skip the anchor's own class block
    inter = (anchors, order[position]) if bool((own_count < n).all()) else (anchors[:0], anchors[:0])
    return [intra, inter]
