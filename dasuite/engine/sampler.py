"""Endless streams of training batches, one per set a stage draws from.

Each stream walks a fresh random permutation of its set and reshuffles when fewer than a batch of
items remain (the remainder is dropped, so every batch has the same size). The stage's first set
defines the epoch; the others simply keep cycling, as DA loops usually do.

Sets held in memory (tensors) are cut by tensor indexing on the training device; sets that stay on
disk (:class:`~dasuite.data.folder.LazyImages`) are decoded by DataLoader workers in the same order.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset


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

    def __iter__(self):  # as a DataLoader batch_sampler
        while True:
            yield self.next().tolist()

    def state_dict(self) -> dict:
        return {"order": self.order, "position": self.position, "generator": self.generator.get_state()}


class Zipped(Dataset):
    """Item i of each part, as a tuple (images decoded by the part's own ``__getitem__``)."""

    def __init__(self, parts):
        self.parts = parts

    def __len__(self) -> int:
        return len(self.parts[0])

    def __getitem__(self, i):
        return tuple(part[i] for part in self.parts)


class BatchStream:
    """Batches of ``parts`` (e.g. images and labels) on ``device``, in :class:`CyclicBatches` order."""

    def __init__(self, parts, batch_size: int, generator: torch.Generator, device: torch.device):
        self.device = device
        self.batches = CyclicBatches(len(parts[0]), batch_size, generator)
        if all(isinstance(p, torch.Tensor) for p in parts):
            self.parts = [p.to(device) for p in parts]
            self.loader = None
        else:
            workers = max((getattr(p, "workers", 0) for p in parts), default=0)
            self.loader = iter(DataLoader(Zipped(parts), batch_sampler=self.batches, num_workers=workers,
                                          pin_memory=device.type == "cuda", persistent_workers=workers > 0))

    @property
    def batches_per_pass(self) -> int:
        return self.batches.batches_per_pass

    def next(self) -> list[torch.Tensor]:
        if self.loader is None:
            index = self.batches.next().to(self.device)
            return [p[index] for p in self.parts]
        return [t.to(self.device, non_blocking=True) for t in next(self.loader)]

    def state_dict(self) -> dict:
        """The index order (with workers, the loader may have prefetched a few batches past it)."""
        return self.batches.state_dict()
