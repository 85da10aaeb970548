"""The order in which a stream stage (:class:`~dasuite.methods.base.Stream`) reads its set.

``given`` keeps the set's order (a continual stream: each shift's items after the previous shift's), ``shuffled``
permutes it with the run's seed. ``label_shift=δ`` orders it by class instead, as the test-time adaptation
literature simulates a non-i.i.d. stream (NOTE, Gong et al., NeurIPS 2022, section 4; SAR, Niu et al., ICLR 2023,
"online imbalanced label distribution shifts"): the stream is cut into ``chunks`` consecutive slots; each class's
items (shuffled) are spread over the slots in proportions drawn from Dirichlet(δ, ..., δ), so a small δ puts most of
a class into few slots; within a slot the classes follow one another (in a random order), each class's items
together, as NOTE's stream groups them. With ``given`` and a label shift, the order applies within each run
of the set's ``segments`` (a continual stream's shifts stay in their order). The labels order the stream only; the
method never receives them.
"""

from __future__ import annotations

import torch

#: Slots per class of a label-shifted stream (NOTE's Dirichlet sampling cuts the stream into chunks likewise).
CHUNKS_PER_CLASS = 10


def stream_order(labels: torch.Tensor, order: str, label_shift: float | None, generator: torch.Generator,
                 segments: list[int] | None = None) -> torch.Tensor:
    """Positions of a set of ``len(labels)`` items in the order a stream reads them; ``segments``: the lengths of
    consecutive parts that keep their order under ``given`` (a continual stream's shifts)."""
    n = len(labels)
    if label_shift is None:
        return torch.arange(n) if order == "given" else torch.randperm(n, generator=generator)
    parts = segments if order == "given" and segments else [n]
    starts = torch.tensor([0, *parts]).cumsum(0)
    return torch.cat([start + _label_shifted(labels[start:start + size], label_shift, generator)
                      for start, size in zip(starts.tolist(), parts)])


def _label_shifted(labels: torch.Tensor, concentration: float, generator: torch.Generator) -> torch.Tensor:
    classes = sorted(set(labels.tolist()))
    chunks = CHUNKS_PER_CLASS * len(classes)
    dirichlet = torch.distributions.Dirichlet(torch.full((chunks,), float(concentration)))
    slots: list[list[torch.Tensor]] = [[] for _ in range(chunks)]
    for c in classes:
        items = torch.nonzero(labels == c).flatten()
        items = items[torch.randperm(len(items), generator=generator)]
        with torch.random.fork_rng(devices=[]):  # the Dirichlet draw from the stream's generator, not torch's
            torch.manual_seed(int(torch.randint(2 ** 31, (1,), generator=generator)))
            share = dirichlet.sample()
        cuts = (share.cumsum(0) * len(items)).round().long().tolist()
        cuts[-1] = len(items)  # every item in a slot, whatever the rounding
        for slot, (start, end) in enumerate(zip([0, *cuts[:-1]], cuts)):
            slots[slot].append(items[start:end])
    ordered = []
    for slot in slots:  # a slot's classes one after another, in a random order
        ordered += [slot[c] for c in torch.randperm(len(slot), generator=generator).tolist()]
    return torch.cat(ordered)
