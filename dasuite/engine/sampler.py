"""Batches drawn from in-memory tensors, one stream per set.

Each stream walks a fresh random permutation of its set and reshuffles when fewer than a batch of
items remain (the remainder is dropped, so every batch has the same size). The stage's first set
defines the epoch; the others simply keep cycling, as DA loops usually do.
"""

from __future__ import annotations

import torch


class CyclicBatches:
    """Endless shuffled index batches over ``n`` items (a set smaller than a batch is one batch)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n = n
        self.batch_size = min(batch_size, n)
        self.generator = generator
        self.order = torch.randperm(n, generator=generator)
        self.position = 0

    @property
    def batches_per_pass(self) -> int:
        return self.n // self.batch_size

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:
            self.order = torch.randperm(self.n, generator=self.generator)
            self.position = 0
        index = self.order[self.position: self.position + self.batch_size]
        self.position += self.batch_size
        return index

    def state_dict(self) -> dict:
        return {"order": self.order, "position": self.position, "generator": self.generator.get_state()}
